"""Whether a torch checkpoint holds only what ``torch.load(weights_only=True)`` loads, told without torch and
without unpickling: its pickle's opcodes are read (``pickletools``) and every global it names is compared
with what torch's weights-only unpickler allows (tensors, storages, dtypes, ``OrderedDict``, plain data).

So a checkpoint that pickles code or arbitrary objects is refused from the file, in the run's preflight,
before its directory is claimed; torch's own weights-only load still guards the load itself.
"""
from __future__ import annotations

import io
import pickletools
import re
import zipfile
from pathlib import Path

# The opcodes torch's weights-only unpickler executes (torch/_weights_only_unpickler.py); any other opcode
# (STACK_GLOBAL, INST, OBJ, EXT*, ...) it refuses outright.
ALLOWED_OPCODES = frozenset({
    "GLOBAL", "NEWOBJ", "REDUCE", "BUILD", "APPEND", "APPENDS", "SETITEM", "SETITEMS", "MARK", "TUPLE", "TUPLE1",
    "TUPLE2", "TUPLE3", "NONE", "NEWFALSE", "NEWTRUE", "EMPTY_TUPLE", "EMPTY_LIST", "EMPTY_DICT", "EMPTY_SET",
    "BININT", "BININT1", "BININT2", "BINFLOAT", "BINUNICODE", "SHORT_BINSTRING", "BINPERSID", "BINGET",
    "LONG_BINGET", "BINPUT", "LONG_BINPUT", "LONG1", "PROTO", "STOP"})
ALLOWED_GLOBALS = frozenset({
    "collections.OrderedDict", "collections.Counter", "torch.nn.parameter.Parameter", "torch.serialization._get_layout",
    "torch.Size", "torch.Tensor", "torch.device", "_codecs.encode", "builtins.bytearray", "builtins.set",
    "builtins.complex", "torch._tensor._rebuild_from_type_v2"})
# torch's dtypes, storage and tensor classes, quantization schemes and tensor rebuild functions, by name.
ALLOWED_PATTERN = re.compile(
    r"torch\.(\w*Storage|\w*Tensor|float(16|32|64)|float8_\w+|float4_\w+|bfloat16|half|float|double|u?int\d+|bool"
    r"|complex(32|64|128)|cfloat|cdouble|chalf|qu?int\w+|bits\w+|per_(tensor|channel)_\w+)"
    r"|torch\.cuda\.\w+(Storage|Tensor)|torch\._utils\._rebuild_\w+")
LEGACY_PICKLES = 5  # legacy torch.save: magic number, protocol, system info, the object, its storage keys


LEGACY_READ = 64 << 20  # a legacy checkpoint's pickles come first, its storages' bytes after them


def _problem(data: bytes, start: int = 0) -> tuple[str | None, int]:
    """What torch would refuse in the pickle at ``start`` of ``data`` (None: nothing), and where it ends."""
    stream = io.BytesIO(data)
    stream.seek(start)
    end = start
    try:
        for opcode, argument, position in pickletools.genops(stream):
            end = position + 1
            if opcode.name not in ALLOWED_OPCODES:
                return f"the pickle opcode {opcode.name}", end
            if opcode.name == "GLOBAL":
                name = ".".join(str(argument).split(" ", 1))
                if name not in ALLOWED_GLOBALS and not ALLOWED_PATTERN.fullmatch(name):
                    return name, end
    except (ValueError, IndexError) as error:  # truncated or not a pickle
        return f"a damaged pickle ({error})", end
    return None, end


def torch_pickle_problem(path: Path) -> str | None:
    """The first thing in the torch checkpoint at ``path`` (zip or legacy) that a weights-only load refuses: a
    global such as ``builtins.eval`` or ``argparse.Namespace``, or an opcode; None for tensors and plain data."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            pickles = [name for name in archive.namelist() if name.endswith("data.pkl") and name.count("/") == 1]
            if len(pickles) != 1:
                return "no single data.pkl (not a torch.save archive)"
            return _problem(archive.read(pickles[0]))[0]
    with path.open("rb") as handle:
        data = handle.read(LEGACY_READ)
    start = 0
    for _ in range(LEGACY_PICKLES):
        problem, start = _problem(data, start)
        if problem is not None:
            return problem
    return None


__all__ = ["ALLOWED_GLOBALS", "ALLOWED_OPCODES", "torch_pickle_problem"]
