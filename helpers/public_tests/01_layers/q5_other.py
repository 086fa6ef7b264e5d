from otter.test_files import test_case

OK_FORMAT = False

name = "q5_other"
points = [1]

@test_case(points=None, hidden=False)
def test_conv_output_shape_1d_3d(conv_output_shape):
    import torch
    from helpers import checks
    for conv, shape in [(torch.nn.Conv1d(12, 32, 7, stride=2, padding=3), (12, 1000)), (torch.nn.Conv3d(3, 64, 3, padding=1), (3, 16, 112, 112))]:
        with torch.device('meta'):
            expected = tuple(conv.to('meta')(torch.empty(1, *shape, device='meta')).shape[1:])
        got = checks.run_student(conv_output_shape, shape, conv.out_channels, conv.kernel_size[0], conv.stride[0], conv.padding[0], question='01_layers/q5_other')
        checks.check_ints(f'conv_output_shape({shape}, {conv.out_channels}, {conv.kernel_size[0]}, {conv.stride[0]}, {conv.padding[0]})', got, expected)

