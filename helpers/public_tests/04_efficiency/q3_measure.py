from otter.test_files import test_case

OK_FORMAT = False

name = "q3_measure"
points = [2]

@test_case(points=None, hidden=False)
def test_measure_on_a_simulated_gpu(measure):
    """judge: kernel. The student's function calls back into a simulated device the test owns."""
    import statistics
    from helpers import bench, checks
    warm, timed = ([5.0, 5.0, 5.0], [1.0, 1.3, 9.0, 1.1, 1.2])
    dev = bench.SimulatedDevice(warm + timed, launch=0.001)
    got = checks.run_student(measure, dev.fn, 3, 5, dev.sync, clock=dev.clock, question='04_efficiency/q3_measure')
    if 'clock' not in dev.log:
        raise checks.CheckFailed('measure never called clock(): read the time with the clock argument, not time.perf_counter directly\n' + checks.HIDDEN_NOTE)
    expected = statistics.median((t + 0.001 for t in timed))
    checks.check_number('measure(...) on the simulated device', got, expected, rel=1e-09, mistakes={'the clock stopped before the device finished: call sync() before reading it': 0.001, 'the mean, not the median: one outlier moves the mean': statistics.mean((t + 0.001 for t in timed))})
    if dev.calls != 8:
        raise checks.CheckFailed(f'fn was called {dev.calls} times; expected warmup + repeats = 8\n' + checks.HIDDEN_NOTE)

