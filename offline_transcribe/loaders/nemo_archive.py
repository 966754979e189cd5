"""Restore a ``.nemo`` (Parakeet-TDT) faster and with less memory than ``ASRModel.restore_from``, to the same model.

``ASRModel.restore_from(path, map_location=device)`` spends its time and memory on three things:

1. it extracts the whole archive (2.5 GB for Parakeet-TDT-0.6B-v2) into a temporary folder;
2. it builds the model with random initial weights (about 5 s of CPU time for 0.6 B parameters);
3. it reads every weight into memory and then copies it into the model (two full copies at the peak).

``restore_nemo`` does none of these, and keeps ``parakeet.nemo`` as the only file on disk:

1. A ``.nemo`` written by NeMo is a plain, uncompressed tar, so the weights member (``model_weights.ckpt``, a
   ``torch.save`` zip) is a contiguous byte range of the ``.nemo`` itself. Only the small members (config,
   tokenizer) are extracted, into a temporary folder that NeMo restores from (``SaveRestoreConnector``'s
   ``model_extracted_dir``), which is deleted afterwards exactly like ``restore_from``'s.
2. The model is built with the ``torch.nn.init`` functions made no-ops (in this thread only), so its
   parameters are allocated but never written: the kernel does not even back them with memory.
3. The weights are unpickled straight from the ``.nemo``'s byte range, memory-mapped (on a CPU) or copied
   tensor by tensor to the GPU, and the model's parameters are *replaced* by them
   (``load_state_dict(assign=True)``) instead of copied into.

Loading is strict (every parameter must be in the file and every weight in the file must fit), so nothing is
left with its skipped initial value, and the weights are bit-identical to ``restore_from``'s.

4. The vocabulary lists that ``EncDecRNNTBPEModel.__init__`` rebuilds from the tokenizer anyway (``labels`` and
   ``joint.vocabulary``, 1,024 entries each for Parakeet) are left out of the config NeMo is given (empty lists
   in their place). NeMo wraps every list entry in an OmegaConf node and copies and re-validates the whole
   config several times while building the model; without those two lists that takes a third of the time.
   The model ends up with the same config, key for key and in the same order.

Memory on a CPU: the weights stay memory-mapped from ``parakeet.nemo`` (private, copy-on-write: the file is
never written). They are file-backed pages, counted in the process's RSS once mapped in, and the kernel can
drop them under memory pressure and read them again instead of running out of memory. So that the first
transcription does not pay for faulting 2.5 GB in page by page, a background thread maps them all in with
one ``madvise(MADV_POPULATE_READ)`` right after loading (``wait_for_prefault`` waits for it).
Do not overwrite ``parakeet.nemo`` *in place* while the app runs (``cp new.nemo parakeet.nemo``); the setup
script replaces it atomically (a new file, renamed), which is safe.

Anything that is not a plain tar (a gzip-compressed ``.nemo`` from an old NeMo) goes through
``ASRModel.restore_from`` unchanged. Errors are those NeMo raises for the same damage (``FileNotFoundError``,
``tarfile.ReadError``, ``RuntimeError`` from the zip reader, ``pickle.UnpicklingError``), so callers that map
NeMo's exceptions keep working.
"""

from __future__ import annotations

import contextlib
import ctypes
import inspect
import io
import os
import posixpath
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    import torch
    from nemo.collections.asr.models import ASRModel

from .no_init import skip_weight_init

CONFIG_NAME = "model_config.yaml"
WEIGHTS_NAME = "model_weights.ckpt"
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")  # gzip, bzip2, xz: tar.open("r:") cannot seek in them


# ---------------------------------------------------------------------------------------------------------------
# The archive


@dataclass(frozen=True)
class NemoLayout:
    """Where things are inside a plain-tar ``.nemo``: the weights' byte range and the small members."""

    path: Path
    file_size: int
    weights_offset: int  # first byte of model_weights.ckpt inside the .nemo
    weights_size: int
    small_members: tuple[tarfile.TarInfo, ...]  # everything else: config, tokenizer artifacts


def is_plain_tar(path: Path) -> bool:
    """False for a compressed ``.nemo`` (gzip, bzip2, xz), whose members cannot be read in place."""
    with open(path, "rb") as f:
        head = f.read(6)
    return not any(head.startswith(magic) for magic in _COMPRESSED_MAGIC)


def read_layout(path: Path) -> NemoLayout:
    """Read the tar headers of a plain-tar ``.nemo`` (a few KB) and locate its members.

    Raises ``tarfile.ReadError`` for an empty, truncated or non-tar file and ``FileNotFoundError`` when
    the config or the weights are not in the archive (the errors ``restore_from`` raises for the same files).
    """
    file_size = path.stat().st_size
    with tarfile.open(path, "r:") as tar:
        members = tar.getmembers()
        end_of_members = tar.offset
    by_name = {posixpath.normpath(m.name): m for m in members if m.isfile()}
    for needed in (CONFIG_NAME, WEIGHTS_NAME):
        if needed not in by_name:
            if end_of_members + 2 * tarfile.BLOCKSIZE > file_size:  # no end-of-archive blocks: cut in a header
                raise tarfile.ReadError("unexpected end of data")
            raise FileNotFoundError(f"{path} has no {needed} inside: it is not a complete .nemo archive")
    weights = by_name[WEIGHTS_NAME]
    if weights.offset_data + weights.size > file_size:
        raise tarfile.ReadError("unexpected end of data")  # what tarfile says when a member is cut short
    small = tuple(m for name, m in by_name.items() if name != WEIGHTS_NAME)
    for m in small:
        if m.offset_data + m.size > file_size:
            raise tarfile.ReadError("unexpected end of data")
    return NemoLayout(path, file_size, weights.offset_data, weights.size, small)


class _ByteRange(io.RawIOBase):
    """A read-only, seekable view of ``size`` bytes of ``f`` from ``start``: one tar member as a file."""

    def __init__(self, f: BinaryIO, start: int, size: int):
        super().__init__()
        self._f, self._start, self._size, self._pos = f, start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        count = max(0, min(len(view), self._size - self._pos))
        if count == 0:
            return 0
        self._f.seek(self._start + self._pos)
        got = self._f.readinto(view[:count]) or 0
        self._pos += got
        return got


def _extract_small_members(layout: NemoLayout, folder: Path) -> None:
    """Extract config and tokenizer artifacts (never the weights) into ``folder``, refusing unsafe paths."""
    members = list(layout.small_members)
    if not hasattr(tarfile, "data_filter"):  # Python < 3.11.4: check the names ourselves
        for m in members:
            name = posixpath.normpath(m.name)
            if name.startswith(("/", "..")) or not m.isfile():
                raise tarfile.ReadError(f"unsafe member {m.name!r} in {layout.path}")
    with tarfile.open(layout.path, "r:") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(folder, members=members, filter="data")
        else:
            tar.extractall(folder, members=members)


# ---------------------------------------------------------------------------------------------------------------
# Weights


def _private_load_supports_mmap() -> bool:
    """Whether ``torch.serialization._load`` takes ``overall_storage`` (how ``torch.load(mmap=True)`` maps files)."""
    import torch.serialization

    load = getattr(torch.serialization, "_load", None)
    return load is not None and "overall_storage" in inspect.signature(load).parameters


def load_weights(layout: NemoLayout, device: str) -> dict[str, torch.Tensor]:
    """The state dict in ``layout``'s weights member, on ``device``, without extracting the member.

    On a CPU the tensors are views of a private memory map of the ``.nemo`` (what ``torch.load(mmap=True)``
    does for a file of its own); on a GPU each tensor is read and copied over one at a time. Uses
    ``weights_only`` unpickling, like NeMo's ``torch.load`` with today's torch defaults.
    """
    return _read_weights(layout, device)[0]


def _read_weights(layout: NemoLayout, device: str) -> tuple[dict[str, torch.Tensor], Any]:
    """``load_weights``, and the mapped byte range of the weights (None when they were read, not mapped)."""
    import torch
    import torch.serialization

    with open(layout.path, "rb") as raw:
        member = _ByteRange(raw, layout.weights_offset, layout.weights_size)
        mapped = None
        if torch.device(device).type == "cpu" and _private_load_supports_mmap():
            with contextlib.suppress(RuntimeError):  # a file system that cannot map files: read them instead
                mapped = torch.UntypedStorage.from_file(str(layout.path), False, layout.file_size)  # MAP_PRIVATE
        if mapped is None:
            return torch.load(member, map_location=device, weights_only=True), None
        window = mapped[layout.weights_offset : layout.weights_offset + layout.weights_size]
        reader = torch._C.PyTorchFileReader(member)
        if not reader.has_record("data.pkl"):  # a zip, but not one torch.save wrote
            raise RuntimeError(f"PytorchStreamReader failed locating file data.pkl in zip archive {WEIGHTS_NAME}")
        state = torch.serialization._load(
            reader,
            device,
            torch.serialization._weights_only_unpickler,
            overall_storage=window,
            encoding="utf-8",
        )
    return state, window


# ---------------------------------------------------------------------------------------------------------------
# Mapping the weights in ahead of use

_MADV_WILLNEED = 3
_MADV_POPULATE_READ = 22  # Linux 5.14+
_PREFAULT_CHUNK = 64 << 20  # a multiple of any page size
_prefaulting: set[threading.Thread] = set()
_prefault_lock = threading.Lock()


def _populate(storage: Any) -> None:
    """Map every page of ``storage`` (a file mapping) into the process in one system call (GIL released).

    Falls back to asynchronous read-ahead (``MADV_WILLNEED``) on kernels without ``MADV_POPULATE_READ``.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        madvise = libc.madvise
    except (OSError, AttributeError):
        return
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    page = os.sysconf("SC_PAGE_SIZE")
    address = storage.data_ptr()
    start = address - address % page
    end = address + storage.nbytes()
    # In chunks: the kernel holds the process's memory-map lock for each call, and the loading thread may
    # need it (to allocate) in the meantime.
    for chunk in range(start, end, _PREFAULT_CHUNK):
        length = min(_PREFAULT_CHUNK, end - chunk)
        if madvise(chunk, length, _MADV_POPULATE_READ) != 0:
            madvise(chunk, end - chunk, _MADV_WILLNEED)
            return


def _start_prefault(storage: Any, name: str) -> None:
    def run() -> None:
        try:
            _populate(storage)  # the thread's reference keeps the mapping alive while it runs
        finally:
            with _prefault_lock:
                _prefaulting.discard(threading.current_thread())

    thread = threading.Thread(target=run, name=f"prefault-{name}", daemon=True)
    with _prefault_lock:
        _prefaulting.add(thread)
    thread.start()


def wait_for_prefault(timeout: float | None = None) -> bool:
    """Wait until weights mapped by ``restore_nemo`` are all in memory; False if ``timeout`` ran out first."""
    with _prefault_lock:
        threads = list(_prefaulting)
    deadline = None if timeout is None else time.monotonic() + timeout
    for thread in threads:
        thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
    return not any(t.is_alive() for t in threads)


# ---------------------------------------------------------------------------------------------------------------
# Restoring



def _connector_class() -> type:
    """A ``SaveRestoreConnector`` that reads the weights from the ``.nemo`` and assigns them to the model."""
    from nemo.core.connectors.save_restore_connector import SaveRestoreConnector

    class _InPlaceWeightsConnector(SaveRestoreConnector):
        def __init__(self, layout: NemoLayout, device: str, folder: Path, prefault: bool):
            super().__init__()
            self.layout, self.device, self.prefault = layout, device, prefault
            self.mapped: Any = None
            self.model_extracted_dir = str(folder)

        def _load_state_dict_from_disk(self, model_weights: str, map_location: Any = None) -> dict:
            state, self.mapped = _read_weights(self.layout, self.device)  # model_weights was never extracted
            return state

        def load_instance_with_state_dict(self, instance: Any, state_dict: dict, strict: bool) -> None:
            instance.load_state_dict(state_dict, strict=True, assign=True)
            instance._set_model_restore_state(is_being_restored=False)
            if self.mapped is not None and self.prefault:
                _start_prefault(self.mapped, self.layout.path.name)
            self.mapped = None

    return _InPlaceWeightsConnector


# Config entries that the model class rebuilds from its tokenizer in ``__init__``, whatever the file says.
_REBUILT_FROM_TOKENIZER: dict[str, tuple[tuple[str, ...], ...]] = {
    "EncDecRNNTBPEModel": (("labels",), ("joint", "vocabulary")),
}


def _config_without_rebuilt_lists(config_yaml: Path) -> Any:
    """The ``.nemo``'s config with the lists its class rebuilds from the tokenizer emptied (same keys, same
    order), as a ``DictConfig`` for ``restore_from(override_config_path=...)``; None for other classes."""
    import yaml
    from omegaconf import OmegaConf

    try:
        from omegaconf._utils import get_yaml_loader  # what OmegaConf.load parses with
    except ImportError:
        return None
    with open(config_yaml, encoding="utf-8") as f:
        config = yaml.load(f, Loader=get_yaml_loader())
    if not isinstance(config, dict):
        return None
    rebuilt = _REBUILT_FROM_TOKENIZER.get(str(config.get("target", "")).rpartition(".")[2], ())
    emptied = False
    for *parents, key in rebuilt:
        node = config
        for parent in parents:
            node = node.get(parent) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(key), list) and node[key]:
            node[key] = []
            emptied = True
    return OmegaConf.create(config) if emptied else None


def _rebuilt_lists_filled(model: Any) -> bool:
    """Whether the model's class did rebuild every list ``_config_without_rebuilt_lists`` emptied."""
    for *parents, key in _REBUILT_FROM_TOKENIZER.get(type(model).__name__, ()):
        node = model.cfg
        for parent in parents:
            node = node.get(parent) if node is not None else None
        if node is None or not node.get(key):
            return False
    return True


def _build(cls: Any, layout: NemoLayout, device: str, folder: Path, prefault: bool, config: Any) -> Any:
    """``cls.restore_from`` on the extracted ``folder``, weights from the ``.nemo``, no random initialisation."""
    connector = _connector_class()(layout, device, folder, prefault)
    with skip_weight_init():
        # Built on the CPU (its skipped parameters are never touched, so they cost no memory), then the
        # weights, already on ``device``, replace them; what is left (buffers that are not saved) follows.
        return cls.restore_from(
            str(folder), override_config_path=config, map_location="cpu", save_restore_connector=connector
        )


def restore_nemo(path: Path, device: str, prefault: bool = True) -> ASRModel:
    """The model in the ``.nemo`` at ``path`` on ``device``: what ``ASRModel.restore_from(path, map_location=device)``
    returns (same class, config, weights; in training mode, as NeMo returns it), built faster and leaner.

    With ``prefault`` (on a CPU) a background thread maps the weights in right away (``wait_for_prefault``);
    without it they are read in on first use.

    Raises what ``restore_from`` raises for the same file: ``FileNotFoundError`` (no file, or no config or
    weights inside), ``tarfile.ReadError`` (empty, truncated, not a tar), ``RuntimeError`` (the weights are not
    a readable torch zip), ``pickle.UnpicklingError`` (damaged pickle); a truncated or damaged file leaves
    nothing behind.
    """
    import torch
    from nemo.collections.asr.models import ASRModel
    from nemo.core.connectors.save_restore_connector import SaveRestoreConnector
    from nemo.utils.app_state import AppState

    path = Path(path).expanduser().absolute()
    if not path.exists():
        raise FileNotFoundError(f"Can't find {path}")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not a .nemo file")
    if not is_plain_tar(path):
        return ASRModel.restore_from(str(path), map_location=device)  # an old compressed .nemo
    layout = read_layout(path)
    with tempfile.TemporaryDirectory(prefix="nemo-restore-") as tmp:
        folder = Path(tmp)
        _extract_small_members(layout, folder)
        light = _config_without_rebuilt_lists(folder / CONFIG_NAME)
        model = _build(ASRModel, layout, device, folder, prefault, light)
        if light is not None and not _rebuilt_lists_filled(model):  # NeMo no longer rebuilds them: no shortcut
            model = _build(ASRModel, layout, device, folder, prefault, None)
    if torch.device(device).type != "cpu":
        model = model.to(device)  # also re-packs LSTM weights for cuDNN (RNNBase._apply)
    # Leave NeMo's state as restore_from(path) leaves it: artifacts (e.g. for save_to) come from the .nemo.
    plain = SaveRestoreConnector()
    model._save_restore_connector = plain
    ASRModel.update_save_restore_connector(plain)
    app_state = AppState()
    app_state.model_restore_path = str(path)
    app_state.register_model_guid(model.model_guid, restoration_path=str(path))
    return model


def weights_bytes(path: Path) -> int:
    """Size of the weights member of a plain-tar ``.nemo`` (its share of the file), for reports."""
    return read_layout(Path(path)).weights_size
