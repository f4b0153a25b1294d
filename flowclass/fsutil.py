"""Writing files whole or not at all, and telling whether a file changed.

Every file FlowClass writes goes through :func:`atomic_path` (or its two shorthands): the
data goes into a hidden temporary file in the target's own folder, is flushed to disk, and
is then renamed into place. A crash, a kill or a full disk therefore leaves the old file or
the new one, never half of one, and the temporary file is removed whenever Python still
runs. The temporary name is short and fixed in length, so it fits the file system's name
limit even when the target's name uses all 255 bytes; it ends in :data:`TEMP_SUFFIX`, so
leftovers of a killed process can be recognised and cleaned up later.

A killed writer (``kill -9``, a power cut) cannot remove its temporary file, so the writer
holds an exclusive ``flock`` on it for as long as it lives: the OS drops that lock when the
process dies, however it dies. :func:`clear_dead_temps` removes the temporary files of this
shape in a folder whose lock nobody holds: provably FlowClass's, and provably abandoned.
The first atomic write into a folder in each process clears it (a run's output folder, the
cache, the workflow's folder), and saves of decisions and workflows clear theirs each time.

Files are created with mode 0666 less the umask, as ``open()`` does (0644 under the usual
umask 022), so people who share a folder can read what FlowClass wrote there; a file that is
replaced keeps its own permissions.

:func:`file_stamp` is the one cheap identity of a file used for cache keys, fingerprints
and ownership: its size and modification time in nanoseconds.
"""

# No ``from __future__ import annotations``: typing.NamedTuple compiles a string annotation
# as a forward reference, and the first compile of a process readies Python's syntax tree
# types (about 9 M instructions; an unchanged re-run into a new --out compiles nothing else).
import errno
import os
import shutil
import stat
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

from .digests import sha256

TEMP_SUFFIX = ".flowclass-tmp"
HELD_PREFIX = ".fcl-"  # an atomic write's temporary file, locked by its writer while it lives
# A writer creates its temporary file, then locks it: a file younger than this may be between
# the two (its writer would notice it gone and take another name, but it is not touched).
DEAD_AFTER_SECONDS = 2.0

# Why a path that names a file is not read: opening a pipe waits for a writer, and a device
# such as /dev/zero never ends (a shared archive can hold both, named like images).
NOT_REGULAR = "not a regular file (a pipe, a device or a socket)"

NOT_UTF8 = "its name is not UTF-8 text"


def expand_user(path: str | os.PathLike[str]) -> Path:
    """``path`` with a leading ``~`` or ``~user`` expanded, as written where there is no such
    home (``~alice`` from another computer): pathlib's own raises RuntimeError there."""
    return Path(os.path.expanduser(path))


def is_text(name: str) -> bool:
    """Whether a name from the file system is UTF-8 text: Python keeps other bytes of a name
    (a Latin-1 system's b'caf\\xe9.png') as lone surrogates, which no table, journal or
    fingerprint can write."""
    if name.isascii():  # most names, without encoding them
        return True
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown_name(path: str) -> str:
    """``path`` as text, U+FFFD where its bytes are not UTF-8, to name it in a report."""
    return os.fsencode(path).decode("utf-8", "replace")


def is_read_only(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a regular file (not followed through a link) that its mode lets no
    one write: its owner said no, so FlowClass does not replace it (root could)."""
    try:
        st = os.lstat(path)
    except (OSError, ValueError):
        return False
    return stat.S_ISREG(st.st_mode) and not st.st_mode & 0o222


def is_regular_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` (followed through links) is a regular file; asking never blocks."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


# Errors of publishing that mean "something is already there": callers decide what to do
# (choose another name, report a collision), so they pass through unchanged.
_COLLISIONS = (FileExistsError, IsADirectoryError, NotADirectoryError)


class WriteError(OSError):
    """A file could not be written; the message names it and says what to do.

    Still an :class:`OSError` with the original ``errno``, so ``exc.errno == errno.ENOSPC``
    tells a full disk apart from other failures.
    """

    def __init__(self, message: str, path: Path, code: int | None):
        super().__init__(message)
        self.message = message
        self.errno = code
        self.filename = str(path)

    def __str__(self) -> str:
        return self.message


_STORAGE_TROUBLE = {  # what the disk said, in words that name the file
    errno.ENOSPC: "disk full while writing {path}",
    errno.EDQUOT: "disk quota exceeded while writing {path}",
    errno.EFBIG: "{path} has grown to the largest file allowed here (by the file system, "
                 "or a limit on file size such as `ulimit -f`)",
    errno.EROFS: "cannot write {path}: the file system is read-only",
    errno.EACCES: "no permission to write {path}",
    errno.EPERM: "no permission to write {path}",
    errno.ENAMETOOLONG: "cannot write {path}: the name is too long for the file system",
}
STORAGE_ERRNOS = frozenset(_STORAGE_TROUBLE)  # the errors :func:`write_error` puts in words


def write_error(exc: OSError, path: str | os.PathLike[str], hint: str | None = None) -> WriteError:
    """A :class:`WriteError` for ``exc``, raised while writing ``path``.

    ``hint`` is what the user can do instead (e.g. "choose another --out"); a generic one is
    used without it.
    """
    if isinstance(exc, WriteError):
        return exc
    path = Path(path)
    code = exc.errno
    what = _STORAGE_TROUBLE[code].format(path=path) if code in _STORAGE_TROUBLE else \
        f"cannot write {path}: {exc.strerror or exc}"
    if hint is None:
        hint = "write somewhere else" if code not in (errno.ENOSPC, errno.EDQUOT) else \
            "free some space there, or write somewhere else"
    elif code in (errno.ENOSPC, errno.EDQUOT):
        hint = f"free some space there, or {hint}"
    return WriteError(f"{what}: {hint}", path, code)


def temp_name() -> str:
    """A hidden, random name of fixed length (30 bytes) for an export's temporary file (its
    journal accounts for it: :mod:`flowclass.userfiles.owned_folder`)."""
    return temp_names(1)[0]


def temp_names(count: int) -> list[str]:
    """``count`` names as :func:`temp_name` gives them, from one read of the random source
    (a batch of copies makes one temporary file each); the one place their form is made."""
    drawn = os.urandom(6 * count).hex()
    return [f".fc-{drawn[12 * i:12 * (i + 1)]}{TEMP_SUFFIX}" for i in range(count)]


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is one :func:`temp_name` gives (a leftover of a killed process)."""
    return name.startswith(".fc-") and name.endswith(TEMP_SUFFIX) and len(name) == 30


def held_temp_name() -> str:
    """A hidden, random name (31 bytes) for an atomic write's temporary file, which its
    writer holds locked while it lives; distinct from :func:`temp_name`'s, whose files an
    export's journal accounts for instead."""
    return f"{HELD_PREFIX}{os.urandom(6).hex()}{TEMP_SUFFIX}"


def is_held_temp_name(name: str) -> bool:
    """Whether ``name`` is one :func:`held_temp_name` gives."""
    middle = name[len(HELD_PREFIX):-len(TEMP_SUFFIX)]
    return name.startswith(HELD_PREFIX) and name.endswith(TEMP_SUFFIX) and len(middle) == 12 \
        and all(c in "0123456789abcdef" for c in middle)


def flock_api():
    """The ``fcntl`` module, or None where there is no ``flock`` (Windows: no leftover is
    then ever taken for dead)."""
    try:
        import fcntl
    except ImportError:
        return None
    return fcntl


_OPEN_FLAGS = getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)


def is_open_as(path: Path, fd: int) -> bool:
    """Whether ``path`` (not followed) is still the file open as ``fd``."""
    try:
        now, held = os.lstat(path), os.fstat(fd)
    except FileNotFoundError:
        return False
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)


def _new_held(folder: Path, make: Callable[[Path], int]) -> tuple[Path, int]:
    """A new temporary file or folder in ``folder`` and a descriptor holding its lock;
    ``make(path)`` creates it (FileExistsError when the name is taken) and opens it."""
    fcntl = flock_api()
    while True:
        tmp = folder / held_temp_name()
        try:
            fd = make(tmp)
        except FileExistsError:
            continue
        if fcntl is None:
            return tmp, fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a cleaner saw it unlocked, before we locked it: it goes
            os.close(fd)
            continue
        except OSError:  # no locks on this file system: cleaners cannot lock it either
            return tmp, fd
        if is_open_as(tmp, fd):
            return tmp, fd
        os.close(fd)  # a cleaner removed it between its creation and our lock: another name


def _create_temp(folder: Path) -> tuple[Path, int]:
    return _new_held(folder, lambda tmp: os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | _OPEN_FLAGS,
                                                 0o666))  # the umask applies, as for open()


def _make_folder(tmp: Path) -> int:
    os.mkdir(tmp)
    return os.open(tmp, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _OPEN_FLAGS)


_cleared: set[tuple[int, int]] = set()  # folders this process has cleared (device, inode)
_cleared_lock = threading.Lock()


def _clear_once(folder: Path) -> None:
    try:
        st = os.stat(folder)
    except OSError:
        return
    with _cleared_lock:
        if (st.st_dev, st.st_ino) in _cleared:
            return
        _cleared.add((st.st_dev, st.st_ino))
    clear_dead_temps(folder)


def clear_dead_temps(folder: str | os.PathLike[str], *, folders: bool = False) -> list[Path]:
    """Remove the temporary files of atomic writes in ``folder`` whose writer is gone.

    Only regular files of this user named as :func:`held_temp_name` names them, unchanged
    for :data:`DEAD_AFTER_SECONDS`, and only when no process holds their lock (the writer
    held it until the end, so it died); the file is checked to be the one locked before it
    is removed. Nothing else is touched:
    not a link, not a live writer's file, not an export's journaled temporary file, not a
    file of another user. ``folders`` also removes dead folders of :func:`held_temp_folder`
    with all they hold: only where FlowClass alone writes (its stores). Returns what was
    removed; problems (a folder that cannot be listed) remove nothing and are not errors.
    """
    fcntl = flock_api()
    if fcntl is None:
        return []
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for entry in entries:
        path = Path(entry.path)
        if is_held_temp_name(entry.name) and (_remove_if_dead(path, fcntl) or
                                              folders and _remove_if_dead(path, fcntl, folder=True)):
            removed.append(path)
    return removed


def _remove_if_dead(path: Path, fcntl, folder: bool = False) -> bool:
    flags = os.O_RDONLY | os.O_DIRECTORY if folder else os.O_RDWR | os.O_NONBLOCK
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | _OPEN_FLAGS)
    except OSError:  # gone, a link, not ours to write, not of the kind asked for
        return False
    try:
        st = os.fstat(fd)
        if not (stat.S_ISDIR if folder else stat.S_ISREG)(st.st_mode) or st.st_uid != os.getuid() or \
                time.time() - st.st_mtime < DEAD_AFTER_SECONDS:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # its writer holds it (or locks do not work here): alive
            return False
        if not is_open_as(path, fd):  # published or removed meanwhile
            return False
        if folder:
            shutil.rmtree(path)
        else:
            os.unlink(path)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


@contextmanager
def held_temp_folder(parent: Path) -> Iterator[Path]:
    """A new hidden folder in ``parent``, held locked (as :func:`atomic_path` holds its file)
    while the block runs, to be filled and renamed into place; whatever is still there at
    the end is removed. A killed writer's is removed by ``clear_dead_temps(parent,
    folders=True)``."""
    tmp, fd = _new_held(parent, _make_folder)
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # nothing there once renamed into place
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, overwrite: bool = True, fsync: bool = True,
                hint: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends cleanly, publish it there.

    Write the new content to the yielded path (by name: ``Image.save(tmp)``,
    ``frame.to_csv(tmp)``...). It is then flushed to disk (``fsync``) and renamed over
    ``path``; with ``overwrite=False`` it is hard-linked instead, which raises
    :class:`FileExistsError` rather than replace anything already at ``path``.

    Whatever happens, the temporary file is gone afterwards (after a ``kill -9``, the next
    write into the folder removes it, see :func:`clear_dead_temps`). Any other :class:`OSError`
    (a full disk above all) becomes a :class:`WriteError` that names ``path`` and says what
    to do (``hint``).
    """
    path = Path(path)
    _clear_once(path.parent)
    try:
        tmp, held = _create_temp(path.parent)
    except _COLLISIONS:
        raise
    except OSError as exc:
        raise write_error(exc, path, hint) from exc
    try:
        yield tmp
        if overwrite:
            _keep_mode(path, held)
        if fsync:
            os.fsync(held)  # the same file, whichever descriptor wrote it
        (os.replace if overwrite else os.link)(tmp, path)
    except _COLLISIONS:
        raise
    except OSError as exc:
        raise write_error(exc, path, hint) from exc
    finally:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        os.close(held)  # the lock goes last: until then no cleaner may take the file for dead


def _keep_mode(path: Path, held: int) -> None:
    """Give the new file the permissions of the file it replaces (a private 0600 file stays
    private, a shared 0664 one shared), as editors do; a new file keeps the umask's."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISREG(st.st_mode) and hasattr(os, "fchmod"):
        os.fchmod(held, stat.S_IMODE(st.st_mode))


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, **options) -> None:
    """Write ``data`` to ``path`` whole or not at all; options as :func:`atomic_path`."""
    with atomic_path(path, **options) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8",
                      **options) -> None:
    """Write ``text`` (``\\n`` line ends) to ``path`` whole or not at all."""
    atomic_write_bytes(path, text.encode(encoding), **options)


class Stamp(NamedTuple):
    """Size and modification time of a file: changes whenever its content is rewritten."""

    size: int
    mtime_ns: int

    def __str__(self) -> str:
        return f"{self.size}:{self.mtime_ns}"


def file_stamp(path: str | os.PathLike[str], *, follow_symlinks: bool = True) -> Stamp:
    """The :class:`Stamp` of ``path``; raises :class:`OSError` when it cannot be read."""
    st = os.stat(path, follow_symlinks=follow_symlinks)
    return Stamp(st.st_size, st.st_mtime_ns)


# --- one run at a time into an output folder ------------------------------------------------
# Here, not in flowclass.userfiles.folder_lock, whose private lock folder it shares: an
# unchanged re-run takes it before it imports anything more (flowclass/up_to_date.py).

# What tempfile.gettempdir() reads before the system's folders: a run lock's folder, kept in a
# run's record, is the one a re-run finds only while these are as they were
TEMP_VARIABLES = ("TMPDIR", "TEMP", "TMP")
WAIT_STEP = 0.05  # seconds between two tries at a lock another run holds


def temp_variables() -> list:
    return [os.environ.get(name) for name in TEMP_VARIABLES]


# the lock folder each run lock of this process was taken in, by the variables above as they
# were then: the folder locks of its writes are taken there too, without tempfile finding it
# again (flowclass/userfiles/folder_lock.py)
_RUN_LOCK_FOLDERS: dict[tuple, str] = {}


def run_lock_folder() -> str | None:
    """The lock folder a run lock of this process was taken in while the variables that name
    the temporary folder were as they are now; None when none was."""
    return _RUN_LOCK_FOLDERS.get(tuple(temp_variables()))


class Flock:
    """An exclusive ``flock`` on a lock file (``shared``: a shared one), taken without waiting."""

    def __init__(self, path: Path, shared: bool = False):
        self.path, self.shared, self._fd = path, shared, None

    def _open(self) -> int:
        return os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) |
                       getattr(os, "O_CLOEXEC", 0), 0o644)

    def try_acquire(self) -> bool:
        fcntl = flock_api()
        fd = self._open()
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor releases the lock
            self._fd = None


class RemovedFlock(Flock):
    """A :class:`Flock` whose holder removes its lock file as it lets go, so lock files do not
    pile up (one per folder ever locked): only a held lock's file exists.

    Removing a lock file that another process has open is the classic way to break ``flock``
    locks: that process may then lock the removed file while a third creates and locks a new
    one under the name. So the file is removed only by a process that holds it exclusively
    (a shared holder first tries to hold it alone; when it cannot, another holder is left to
    remove it), and only while it still is the file under that name; and a taker keeps its
    lock only where the name still is the file it locked (else it tries the new one).
    Only an empty file is removed: one of someone else's by that name is only locked."""

    TRIES = 100  # files removed under a taker, one after another, before it counts as busy

    def try_acquire(self) -> bool:
        for _ in range(self.TRIES):
            if not super().try_acquire():
                return False
            if is_open_as(self.path, self._fd):
                return True
            super().release()  # its holder removed it as we locked it: take the next one
        return False

    def release(self) -> None:
        fd = self._fd
        if fd is not None and self._alone(fd) and is_open_as(self.path, fd) and os.fstat(fd).st_size == 0:
            try:
                os.unlink(self.path)  # held alone: whoever opened it sees it gone once it locks it
            except OSError:
                pass
        super().release()

    def _alone(self, fd: int) -> bool:
        if not self.shared:
            return True
        fcntl = flock_api()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # let go of anyway: not atomic, no matter
        except BlockingIOError:
            return False
        return True


def waited_for(lock, waiting: Callable[[], None], check_cancelled: Callable[[], None],
               wait: float | None = None) -> bool:
    """``lock`` (``try_acquire``) taken: at once, else after ``waiting()`` told so, at the
    first of tries :data:`WAIT_STEP` apart while ``check_cancelled()`` raises nothing; False
    when ``wait`` seconds passed first (None: as long as it takes). Told only when a second
    try fails too: a sharer of a run lock's file that lets go holds it alone a moment to
    remove it (:class:`RemovedFlock`), and every run and write shares the files of the
    folders above theirs (:func:`take_folder_locks`), which nobody else may be running into."""
    deadline = None if wait is None else time.monotonic() + wait
    if lock.try_acquire():
        return True
    time.sleep(WAIT_STEP)
    if lock.try_acquire():
        return True
    waiting()
    while not lock.try_acquire():
        check_cancelled()
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(WAIT_STEP)
    return True


def run_lock_name(key: str) -> str:
    """The run-lock file's name of the folder that :class:`FolderLocks` names ``key``."""
    return f"run-{sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}.lock"


def folded(path: str) -> str:
    """``path`` as all its spellings read alike on a file system that ignores case and how
    accents are written (macOS's, Windows's): NFKC and case folding, as Unicode's
    NFKC_Casefold. Folded on every file system (whether one ignores case is not known before
    the folder exists): two folders that differ only in case (on Linux) share a lock, and
    their runs take turns, never mix."""
    if path.isascii():
        return path.lower()
    import unicodedata

    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", path).casefold())


MOUNTINFO = "/proc/self/mountinfo"  # Linux's table of this process's mounts


def _mounts() -> list[tuple[str, str, str]]:
    """(mount point, device, the device's folder it shows) of each mount, in the order Linux
    lists them; none elsewhere. Read each time: a mount may come and go while the canvas runs."""
    try:  # read raw: a text file's reader costs as much again as the kernel writing the table
        fd = os.open(MOUNTINFO, os.O_RDONLY | _OPEN_FLAGS)
    except OSError:
        return []
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(fd)
    lines = b"".join(chunks).decode("utf-8", "surrogateescape").splitlines()
    return [(_unescaped(fields[4]), fields[2], _unescaped(fields[3]))
            for fields in (line.split(" ") for line in lines) if len(fields) > 4]


def _unescaped(field: str) -> str:
    """A path of the mount table, whose space, tab, new line and backslash are octal escapes."""
    if "\\" not in field:
        return field
    first, *rest = field.split("\\")
    return first + "".join(chr(int(part[:3], 8)) + part[3:] for part in rest)


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder if folder.endswith("/") else folder + "/")


def on_disk(path: str, mounts: list[tuple[str, str, str]]) -> str:
    """``path`` (absolute, resolved) as its file system names it: ``device@path from the
    device's top``, through the mount it lies under (the last listed that holds it: a later
    mount hides an earlier one). A bind mount shows one folder under two paths that
    ``realpath`` keeps apart; here they read alike. ``path`` itself without a mount table."""
    for point, device, root in reversed(mounts):
        if _inside(path, point):
            return f"{device}@{root.rstrip('/') + path[len(point.rstrip('/')):] or '/'}"
    return path


class FolderLocks:
    """The run-lock files of one folder (``out_dir``, resolved), worked out once: its own
    (``name``) and those of the folders that hold it (``holders``: each one's name, and the
    folder as a path shows it); ``keys``: the folded identities of all of them.

    A folder is named by its path as its file system names it (:func:`on_disk`), :func:`folded`:
    every spelling of it (relative, with ``..``, through a link or a bind mount, in another
    case) names one lock, before the folder exists as after. Not by its device and inode: a
    folder not made yet has none, and a run's lock must stay the same as the run makes its
    folder. The folders holding it are those above it by its path, and by its file system's
    (a bind mount's folder lies inside the folders above its source too, which no path
    above it shows)."""

    def __init__(self, out_dir: str):
        self.out_dir = out_dir
        self._mounts = _mounts()
        own = on_disk(out_dir, self._mounts)
        self.key = folded(own)
        self.name = run_lock_name(self.key)
        self.keys = {self.key}
        self.holders: list[tuple[str, str]] = []
        path = out_dir
        while (parent := os.path.dirname(path)) != path:
            path = parent
            self._hold(self.key_of(path), path)
        device, _, inside = own.partition("@")
        while self._mounts and inside not in ("/", ""):
            inside = inside.rpartition("/")[0] or "/"
            self._hold(folded(f"{device}@{inside}"), self._shown(device, inside))

    def key_of(self, path: str) -> str:
        """The folded identity of the folder at ``path`` (resolved), as :attr:`keys` hold them."""
        return folded(on_disk(path, self._mounts))

    def _hold(self, key: str, shown: str) -> None:
        if key not in self.keys:
            self.keys.add(key)
            self.holders.append((run_lock_name(key), shown))

    def _shown(self, device: str, inside: str) -> str:
        """The device's folder ``inside`` as the path of a mount that shows it."""
        for point, mounted, root in reversed(self._mounts):
            if mounted == device and _inside(inside, root):
                return point.rstrip("/") + inside[len(root.rstrip("/")):] or "/"
        return f"{inside} (on device {device})"


def waiting_message(folder: str | os.PathLike[str], lock: str | os.PathLike[str], holder: str | None = None,
                    inside: bool = False) -> str:
    """What a run into ``folder`` says while it waits for ``lock``, held by another run into
    that folder, into a folder holding it (``holder``), or into folders inside it (``inside``);
    each run holding it named by its process where the system tells (:func:`lock_holders`)."""
    who = lock_holders(lock)
    if inside:
        held = (f"{'; '.join(who)} {'holds a share' if len(who) == 1 else 'hold shares'}" if who else
                "it holds a share")
        return (f"waiting for another FlowClass run that is writing into a folder inside {folder} (this "
                f"run's output folder; {held} of the lock {lock}); this run goes on when that one ends")
    held = f"{named(who)}it holds the lock {lock}"
    if holder is not None:
        return (f"waiting for another FlowClass run that is writing into {holder}, which holds this run's "
                f"output folder {folder} ({held}); this run goes on when that one ends")
    return (f"waiting for another FlowClass run that is writing into {folder} ({held}); this run goes on "
            "when that one ends")


def named(holders: list[str]) -> str:
    """``holders`` (:func:`lock_holders`) as the start of a message's aside: ``process 4242:
    flowclass run ...; `` (nothing when none is known)."""
    return "".join(f"{holder}; " for holder in holders)


PROC_LOCKS = "/proc/locks"
SHOWN_COMMAND = 300  # characters of a holder's command line shown


def lock_holders(lock: str | os.PathLike[str], locks_list: str = PROC_LOCKS) -> list[str]:
    """Each process holding a ``flock`` on the file ``lock``, as ``process PID: COMMAND LINE``
    (``this process (another of its runs)``: the canvas runs tabs side by side), as Linux tells them: its list of locks
    (``locks_list``) names each lock's file (device, inode) and taker, and ``/proc/PID/cmdline``
    the taker's command (its workflow and output folder, for ``flowclass run``). Only where the
    taker still holds the lock once its command was read; [] where the system tells nothing.
    A shared lock's holders are all named, which the lock file alone cannot say."""
    try:
        st = os.stat(lock)
    except OSError:
        return []
    file = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    shown = {pid: _process(pid) for pid in _takers(file, locks_list)}
    return [shown[pid] for pid in _takers(file, locks_list) if pid in shown]  # still holding it


def _takers(file: str, locks_list: str) -> list[int]:
    """The processes holding a flock on ``file`` (``MAJOR:MINOR:INODE`` as ``locks_list`` writes
    it: ``1: FLOCK  ADVISORY  WRITE 1234 00:1b:5678 0 EOF``; a waiter's line has ``->``), each once."""
    try:
        with open(locks_list, encoding="ascii", errors="replace") as listed:
            lines = listed.read().splitlines()
    except OSError:
        return []
    pids: list[int] = []
    for line in lines:
        fields = line.split()
        if len(fields) > 5 and fields[1] == "FLOCK" and fields[5] == file and fields[4].isdigit():
            pid = int(fields[4])
            if pid > 0 and pid not in pids:
                pids.append(pid)
    return pids


def _process(pid: int) -> str:
    """``process PID: COMMAND LINE`` (control characters escaped, shortened), as Linux tells it."""
    if pid == os.getpid():
        return "this process (another of its runs)"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            words = file.read().rstrip(b"\0").split(b"\0")
    except OSError:
        return f"process {pid}"
    text = " ".join(os.fsdecode(word) for word in words)
    text = "".join(ch if ch.isprintable() else ch.encode("unicode_escape", "backslashreplace").decode("ascii")
                   for ch in shown_name(text))
    return f"process {pid}: {text if len(text) <= SHOWN_COMMAND else text[:SHOWN_COMMAND - 3] + '...'}"


class Blocked(NamedTuple):
    """Which of a folder's run locks another holds: its own (``holder`` None), or that of the
    folder ``holder`` holding it (as a path shows it); ``path``: the lock file."""

    holder: str | None
    path: str


def take_folder_locks(folders: FolderLocks, locks: str | os.PathLike[str], make: Callable[[Path, bool], Flock], *,
                      shared: bool, waiting: Callable[[Blocked], None], check_cancelled: Callable[[], None],
                      wait: "float | None" = None) -> tuple[list, "Blocked | None"]:
    """Hold ``folders``' own run lock (``shared``: a share of it, as a write from elsewhere
    takes it) and a share of each holder's, each made by ``make(path, shared)`` in the private
    lock folder ``locks``. So a run into a folder waits for a run into it or into a folder
    holding it, and for the runs and the writes into folders inside it; runs into folders
    beside one another, and writes, never wait for each other. Taken in the order of their
    names, one order for every taker, so none waits for one that waits for it. Waits as
    :func:`waited_for` does, saying ``waiting(which)`` for each it waits for; returns the locks
    held, or (all let go) none and the one still held after ``wait`` seconds."""
    deadline = None if wait is None else time.monotonic() + wait
    held: list = []
    try:
        for name, holder in sorted([(folders.name, None), *folders.holders]):
            path = os.path.join(locks, name)
            lock = make(Path(path), shared or holder is not None)
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not waited_for(lock, lambda: waiting(Blocked(holder, path)), check_cancelled, left):
                let_go(held)
                return [], Blocked(holder, path)
            held.append(lock)
    except BaseException:
        let_go(held)
        raise
    return held, None


def let_go(held: list) -> None:
    """Release the locks ``held``, the last taken first."""
    while held:
        held.pop().release()


class RunLock:
    """The lock of one run's output folder, held from before the run writes anything there
    until after its run.json and run record are written: a second run into the folder, or
    into a folder holding it or inside it, waits (and says so), so the folder never holds one
    run's files beside another's run.json. Exclusive locks on files of FlowClass's private
    lock folder (:func:`take_folder_locks`; not the folder's own lock, which each write takes:
    the two never wait for each other), released by the OS when the process ends, however it
    ends, their files removed as they are let go (:class:`RemovedFlock`). Taken once a run:
    its re-run's check may take it, and the run goes on holding it (:meth:`holds`)."""

    def __init__(self, out_dir: str, say: Callable[[str], None] = lambda message: None,
                 check_cancelled: Callable[[], None] = lambda: None, folders: "FolderLocks | None" = None):
        self.out_dir = out_dir  # resolved
        self.say, self.check_cancelled = say, check_cancelled
        self.path: str | None = None  # its own lock file, while held
        self._folders = folders
        self._locks: list = []
        self._make: Callable[[Path, bool], Flock] = RemovedFlock

    @property
    def folders(self) -> FolderLocks:
        """Its folder's lock files, worked out once (when first asked: an unchanged re-run
        that differs takes none)."""
        if self._folders is None:
            self._folders = FolderLocks(self.out_dir)
        return self._folders

    def holds(self, folders: FolderLocks) -> bool:
        """Whether it is held, for the folder of ``folders``."""
        return bool(self._locks) and folders.key == self.folders.key

    def take(self, locks: str | os.PathLike[str], make: "Callable[[Path, bool], Flock] | None" = None) -> bool:
        """Hold the lock, files of the private lock folder ``locks``, waiting as long as another
        run holds one; ``make(path, shared)``: each file's lock (default: a :class:`RemovedFlock`).
        False where it cannot be taken so: no ``flock`` here, a lock folder that is not a folder
        of the user's, or one held already in another lock folder. OSError where a lock file
        cannot be opened."""
        path = os.path.join(locks, self.folders.name)
        if self._locks:
            return path == self.path
        if make is None:
            try:
                st = os.lstat(locks)
            except OSError:
                return False
            if flock_api() is None or not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
                return False
        self._make = make or RemovedFlock
        self._locks, _ = take_folder_locks(self.folders, locks, self._make, shared=False, waiting=self._waiting,
                                           check_cancelled=self.check_cancelled)
        self.path = path
        _RUN_LOCK_FOLDERS[tuple(temp_variables())] = os.fspath(locks)
        return True

    def _waiting(self, blocked: Blocked) -> None:
        inside = False
        if blocked.holder is None:  # by a run into this folder, or (shares) by those inside it
            probe = self._make(Path(blocked.path), True)
            inside = probe.try_acquire()
            if inside:
                probe.release()
        self.say(waiting_message(self.out_dir, blocked.path, blocked.holder, inside))

    def release(self) -> None:
        let_go(self._locks)
        self.path = None

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()
