import pytest

from rftlib import EvalSchedule
from rftlib.core.errors import RftError


def test_paper_preset_is_multiples_per_phase_plus_endpoints():
    steps = EvalSchedule.preset("paper").steps(20000)
    assert steps[:3] == [0, 50, 100]
    assert [s for s in steps if s <= 700] == list(range(0, 701, 50))
    assert [s for s in steps if 700 < s <= 3000] == [1000, 2000, 3000]
    assert [s for s in steps if s > 3000] == [6000, 12000, 18000, 20000]


def test_released_preset_matches_the_released_list():
    steps = EvalSchedule.preset("released").steps(70000)
    assert steps[:10] == [0, 50, 100, 120, 150, 180, 210, 240, 270, 300]
    assert steps[10:21] == [400, 600, 800, 1000, 2000, 4000, 8000, 12000, 18000, 24000, 30000]
    assert steps[21:] == [40000, 60000, 70000]


def test_short_run_gets_start_end_and_in_range_steps_only():
    assert EvalSchedule.preset("paper").steps(120) == [0, 50, 100, 120]
    assert EvalSchedule.preset("paper").steps(0) == [0]
    assert EvalSchedule.preset("none").steps(500) == []


def test_custom_phases_from_yaml_like_lists():
    schedule = EvalSchedule.from_spec([[10, 5], [None, 20]])
    assert schedule.steps(65) == [0, 5, 10, 20, 40, 60, 65]
    assert EvalSchedule.from_spec([]).steps(7) == [0, 7]


@pytest.mark.parametrize("spec, message", [
    ("papr", "did you mean 'paper'"),
    ([[10, 0]], "every"),
    ([[None, 5], [100, 5]], "only the last phase"),
    ([[100, 5], [50, 5]], "above 100"),
    (3, "preset name"),
])
def test_bad_schedules_say_what_is_wrong(spec, message):
    with pytest.raises(RftError, match=message):
        EvalSchedule.from_spec(spec)
