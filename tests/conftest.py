"""Shared pytest setup.

NiceGUI's plugin provides the ``user`` (simulated) and ``screen`` (real browser)
fixtures. The browser fixtures are overridden here to use Debian's chromium and
chromedriver directly: the stock driver fixture first asks Selenium Manager,
which tries to download a driver and there is no internet here.
"""

import gc
import os
import shutil
import sys
from collections.abc import Generator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

pytest_plugins = ["nicegui.testing.plugin"]

# Compiled modules are kept from one test run to the next (in __pycache__, as Python keeps
# them by default), even where $PYTHONDONTWRITEBYTECODE is set, as in this machine's shells:
# pytest would otherwise rewrite the asserts of every test module and compile it again on
# each run (5 of the 10 CPU seconds that collecting the quick loop took), and each
# `python -m flowclass.cli` a test starts would compile FlowClass again.
sys.dont_write_bytecode = False

CHROMIUM = os.environ.get("CHROME_BINARY_LOCATION") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Async tests (NiceGUI's ``user`` fixture) run under anyio's pytest plugin, on asyncio only."""
    return "asyncio"


@pytest.fixture(scope="session")
def nicegui_chrome_options(nicegui_chrome_options: webdriver.ChromeOptions) -> webdriver.ChromeOptions:
    """NiceGUI's headless options, pointed at Debian's chromium."""
    nicegui_chrome_options.binary_location = CHROMIUM
    nicegui_chrome_options.add_argument("window-size=1280,900")  # the stock 600x600 is too small for a canvas
    return nicegui_chrome_options


@pytest.fixture(scope="session")
def nicegui_driver(nicegui_chrome_options: webdriver.ChromeOptions) -> Generator[webdriver.Chrome, None, None]:
    """One Chrome session for all browser tests, started with Debian's chromedriver."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        # locally a missing browser skips; in CI (.ci/run sets it up) it is a failure
        (pytest.fail if os.environ.get("CI") else pytest.skip)(
            f"browser tests need {CHROMIUM} and {CHROMEDRIVER}")
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=nicegui_chrome_options)
    driver.implicitly_wait(4)
    driver.set_page_load_timeout(10)
    yield driver
    driver.quit()


MEMORY_FOLDER = Path("/dev/shm")  # a tmpfs on Linux
MEMORY_NEEDED = 1 << 30  # free bytes: a run's 118 MB, and the two earlier runs pytest keeps, with room


def pytest_configure(config: pytest.Config) -> None:
    """The quick loop (``-m "not slow"``) keeps its temporary folders in memory, where the
    machine has a tmpfs: a run leaves about 14,000 files (118 MB), and on this machine's disk
    (mounted with ``discard``) removing them took 35 s of waiting, under load, against 0.4 s
    in memory (pytest removes an older run's folders as each run ends). The tests still write,
    rename, lock and remove real files; the full loop, whose scale tests write more than
    memory should hold, stays on disk. pytest's numbered folders and their cleanup are
    unchanged, only their root moves (``PYTEST_DEBUG_TEMPROOT``, in ``pytest --help``); a
    root given beforehand (or ``--basetemp``) wins."""
    root = temporary_root(config.option.markexpr, config.option.basetemp, os.environ)
    if root is not None:
        os.environ["PYTEST_DEBUG_TEMPROOT"] = str(root)


def temporary_root(markexpr: str | None, basetemp: str | None, environ,
                   folder: Path = MEMORY_FOLDER) -> Path | None:
    """The memory folder for a quick loop that chose no root of its own; None otherwise, and
    where it has under ``MEMORY_NEEDED`` free (a container's /dev/shm is often 64 MB)."""
    quick = "not slow" in (markexpr or "")
    if (quick and basetemp is None and not environ.get("PYTEST_DEBUG_TEMPROOT")
            and folder.is_dir() and os.access(folder, os.W_OK) and free_bytes(folder) >= MEMORY_NEEDED):
        return folder
    return None


def free_bytes(folder: Path) -> int:
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    """What is alive once a test is set up (the libraries imported so far, the session's
    fixtures) is moved out of the garbage collector's sight: NiceGUI's ``user`` fixture runs
    two full collections per test, and with torch, scikit-learn and NiceGUI loaded each had
    cost about 0.16 s of scanning the same objects again (30 s of the quick loop); now they
    scan what the last test made."""
    try:
        return (yield)
    finally:
        gc.freeze()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """FlowClass has no main.py: tests define their pages with @ui.page, so tell
    NiceGUI's user/screen fixtures not to look for one (a test may still set its own).

    A test in a real browser (marked ``browser`` or using the ``screen`` fixture) is both
    ``browser`` and ``slow``, so ``-m "not slow"`` (the quick loop) leaves every one out.
    README's test command runs the ``browser`` tests apart, one after another (the
    ``xdist_group`` mark is kept for a pytest-xdist that groups again under pytest 9)."""
    for item in items:
        if item.get_closest_marker("nicegui_main_file") is None:
            item.add_marker(pytest.mark.nicegui_main_file(None))
        if item.get_closest_marker("browser") or "screen" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.xdist_group("browser"))


# --- FlowClass fixtures -------------------------------------------------------------

PLUGINS = Path(__file__).parent / "plugins"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def prepared_once(request, tmp_path_factory) -> Generator[Path, None, None]:
    """One folder holding what every cache would otherwise make again: EfficientNet
    exported to ONNX and quantised (about 20 s) and the sample images (1,797 digits,
    several seconds). ``$FLOWCLASS_PREPARED`` reaches the CLI subprocesses too; under
    pytest-xdist the workers share the folder (a lock makes the others wait for the first
    export; sample sets are renamed into place whole).

    On a developer's machine the folder is kept in pytest's cache (``.pytest_cache``), so
    only the first quick loop pays for the export: the files are named by the weights'
    hash and the export and quantisation versions, as in a user's cache, so a change to
    either makes new ones. CI (``$CI``) prepares once per run, in the run's own folder. A
    ``$FLOWCLASS_PREPARED`` set beforehand is used as it is."""
    from flowclass.cache import PREPARED_VARIABLE

    if os.environ.get(PREPARED_VARIABLE):
        yield Path(os.environ[PREPARED_VARIABLE])
        return
    kept = getattr(request.config, "cache", None)
    if kept is not None and not os.environ.get("CI"):
        folder = Path(kept.mkdir("flowclass-prepared"))
    else:
        run_root = tmp_path_factory.getbasetemp()
        if os.environ.get("PYTEST_XDIST_WORKER"):
            run_root = run_root.parent  # the run's folder, above each worker's own
        folder = run_root / "prepared-once"
        folder.mkdir(exist_ok=True)
    os.environ[PREPARED_VARIABLE] = str(folder)
    yield folder
    os.environ.pop(PREPARED_VARIABLE, None)


THREAD_SETTINGS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@pytest.fixture(autouse=True)
def thread_settings_kept() -> Generator[None, None, None]:
    """No test (nor the code it runs) may leave the thread settings changed: ``flowclass run``
    started by a later test in this process would compute with other threads, and write other
    bits than the canvas (a Dask cluster once left OMP_NUM_THREADS=1 here)."""
    before = {name: os.environ.get(name) for name in THREAD_SETTINGS}
    yield
    after = {name: os.environ.get(name) for name in THREAD_SETTINGS}
    assert after == before, f"the test left the thread settings changed: {before} became {after}"


@pytest.fixture(scope="session")
def registry():
    """The built-in node library plus the toy nodes of tests/plugins."""
    from flowclass.library import default_registry

    return default_registry([PLUGINS])


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory):
    """One cache for the whole session: the ONNX model and sample images are made once."""
    from flowclass.cache import Cache

    return Cache(tmp_path_factory.mktemp("shared-cache"))


@pytest.fixture
def cache(tmp_path):
    from flowclass.cache import Cache

    return Cache(tmp_path / "cache")


@pytest.fixture(scope="session")
def photos_dir(tmp_path_factory) -> Path:
    """Real photographs (scikit-image's), in two labelled subfolders."""
    import skimage.data
    from PIL import Image

    root = tmp_path_factory.mktemp("photos")
    groups = {"animals": ["chelsea", "astronaut"], "things": ["coffee", "rocket", "camera"]}
    for label, names in groups.items():
        (root / label).mkdir()
        for name in names:
            Image.fromarray(getattr(skimage.data, name)()).save(root / label / f"{name}.jpg", quality=90)
    return root
