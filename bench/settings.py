"""Settings for the check-in benchmark's server (bench/checkins.py): the product's settings, plus the baseline app
(``POST /bench/ping/``) and its URL. Never used by the product or the test suite."""

from config.settings import *  # noqa: F403
from config.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench.baseline"]
ROOT_URLCONF = "bench.urls"
