from otter.test_files import test_case

OK_FORMAT = False

name = "q7_table"
points = [1]

@test_case(points=None, hidden=False)
def test_lecture_table_answer_form(wrong_entry, correct_value):
    from helpers import checks
    if type(wrong_entry) is not tuple or len(wrong_entry) != 2 or any((type(v) is not int or not 0 <= v < 4 for v in wrong_entry)):
        raise checks.CheckFailed(f'wrong_entry must be a (row, column) pair of ints from 0 to 3, got {wrong_entry!r}')
    if isinstance(correct_value, bool) or type(correct_value) not in (int, float):
        raise checks.CheckFailed(f'correct_value must be a number, got {correct_value!r}')

