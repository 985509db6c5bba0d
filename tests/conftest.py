import pytest


@pytest.fixture
def mississippi(db):
    from polling.models import Jurisdiction

    return Jurisdiction.objects.get(code="MS")
