"""The suite's own scheduling under `pytest -n 2 --dist loadgroup` (tests/conftest.py)."""
import pytest


@pytest.mark.xdist_group("schedule-check")
def test_xdist_groups_reach_the_scheduler(request):
    """pytest-xdist reads a test's group from the ``@group`` suffix of its id; with pytest 9.2 its own
    suffix is lost (pytest-dev/pytest-xdist#1386) and conftest puts it back. Without it the Ray cluster
    and the trained digits ViT would be made once per worker."""
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("only meaningful in an xdist worker under --dist loadgroup (make test)")
    assert request.node.nodeid.endswith("@schedule-check"), request.node.nodeid


def test_the_longest_tests_are_collected_first(request):
    from conftest import LONGEST_FIRST

    ids = [item.nodeid.split("@")[0] for item in request.session.items]
    present = [nodeid for nodeid in LONGEST_FIRST if nodeid in ids]
    assert ids[:len(present)] == present
