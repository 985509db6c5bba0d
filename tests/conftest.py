import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_process_state():
    """Each test starts like a fresh server process: no spatial index, no throttle counters.

    (Tests roll their writes back without raising the geography version, which no real write path can do.)
    """
    from polling import spatial

    spatial.reset_index()
    cache.clear()
    yield
    spatial.reset_index()


@pytest.fixture
def mississippi(db):
    from polling.models import Jurisdiction

    return Jurisdiction.objects.get(code="MS")
