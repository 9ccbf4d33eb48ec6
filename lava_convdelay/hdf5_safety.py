"""Open the HDF5 files users hand us so that reading one reads only its own bytes
and allocates only what the caller expects (the one place every HDF5 reader of
the project goes through: network files, SHD-format datasets, NIR graphs).

HDF5 lets a file reach outside itself: a link can name an object in another
file (``h5py.ExternalLink``), a dataset's raw data can live in other files
(external storage, ``Dataset.external``) or be assembled from them (virtual
datasets), and h5py follows all of these silently. A file can also declare a
dataset of any shape (a compressed or never-written one costs no bytes), so
reading it blindly allocates whatever it declares. :func:`open_hdf5` opens a file
read-only and, before any data is read, walks every link and object and refuses:

- every link that is not a hard link: external links, and soft links (which can
  dangle or loop; lava-dl's ``export_hdf5``, SHD files and NIR files use none);
- datasets with external storage and virtual datasets;
- datasets and attributes of any type other than numbers (integers, floats,
  booleans), strings and ragged arrays of numbers: complex numbers, compound
  records, references, opaque data;
- filters other than HDF5's and h5py's own (a dataset naming another filter
  would make HDF5 search for a plugin library to load);
- objects other than groups and datasets (committed datatypes);
- optionally (``max_elements``), files whose datasets declare more elements in
  all than the caller will ever read (for readers that read everything, as NIR's).

:func:`read_dataset` and :func:`read_attribute` then check one object's type and
declared size against what the caller expects (the bound the file's other
fields allow) before reading it. Every refusal is the caller's error class with
a one-line message naming the file, the object and the reason.
"""
from __future__ import annotations

import os

import h5py
import numpy as np

#: Largest number of elements any single dataset may declare (1 GiB of float32),
#: whatever the file's other fields allow; far above any network or dataset file.
MAX_ELEMENTS = 1 << 28
#: Filters HDF5 and h5py provide themselves: deflate, shuffle, fletcher32, szip,
#: nbit, scale-offset, LZF.
KNOWN_FILTERS = {1, 2, 3, 4, 5, 6, 32000}
#: what :func:`read_dataset` accepts for each ``kind``
KINDS = ("number", "string", "ragged")


def shown(text) -> str:
    """``text`` (an object's path, a link's target) for a one-line message: control
    characters escaped."""
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _type_problem(dtype: np.dtype) -> str | None:
    """Why a dataset or attribute of ``dtype`` is refused (``None``: numbers, strings,
    ragged numbers)."""
    if h5py.check_string_dtype(dtype) is not None or dtype.kind == "S":
        return None
    base = h5py.check_vlen_dtype(dtype)
    if base is not None:
        return None if base.kind in "iufb" else f"ragged elements of type {base} (not numbers)"
    if dtype.kind in "iufb" and dtype.subdtype is None:
        return None
    if dtype.kind == "c":
        return f"complex numbers ({dtype})"
    if h5py.check_ref_dtype(dtype) is not None:
        return "object references"
    if dtype.names:
        return f"compound records ({', '.join(dtype.names)})"
    return f"type {dtype} (neither numbers nor strings)"


def _kind_of(dtype: np.dtype) -> str:
    if h5py.check_string_dtype(dtype) is not None or dtype.kind == "S":
        return "string"
    if h5py.check_vlen_dtype(dtype) is not None:
        return "ragged"
    return "number"


def _check_dataset(dataset: h5py.Dataset, where: str, error: type[Exception]) -> int:
    """Refuse what :func:`open_hdf5` refuses of one dataset; its declared element count."""
    if dataset.is_virtual:
        raise error(f"{where}: is a virtual dataset (its data would come from other files); refused")
    if dataset.external:
        files = sorted({shown(name) for name, *_ in dataset.external})
        raise error(f"{where}: its data is stored outside the file (external storage in {files}); refused")
    problem = _type_problem(dataset.dtype)
    if problem:
        raise error(f"{where}: holds {problem}; only integers, floats, booleans and strings are read")
    plist = dataset.id.get_create_plist()
    for i in range(plist.get_nfilters()):
        code = plist.get_filter(i)[0]
        if code not in KNOWN_FILTERS:
            raise error(f"{where}: is compressed with filter {code}, not one of HDF5's own "
                        f"({', '.join(map(str, sorted(KNOWN_FILTERS)))}); refused")
    return int(np.prod(dataset.shape, dtype=object)) if dataset.shape is not None else 0


def _check_attributes(obj, where: str, error: type[Exception]) -> None:
    for name in obj.attrs:
        attribute = obj.attrs.get_id(name)
        problem = _type_problem(attribute.dtype)
        if problem:
            raise error(f"{where}: attribute '{shown(name)}' holds {problem}; only integers, floats, booleans and "
                        f"strings are read")
        elements = int(np.prod(attribute.shape, dtype=object)) if attribute.shape is not None else 0
        if elements > MAX_ELEMENTS:
            raise error(f"{where}: attribute '{shown(name)}' declares {elements} elements, more than the "
                        f"{MAX_ELEMENTS} allowed")


def check_structure(f: h5py.File, source: str, error: type[Exception], max_elements: int | None = None) -> None:
    """Refuse the links, storage and types listed in the module's docstring anywhere in
    ``f`` (opened from ``source``), without reading any dataset's data; with
    ``max_elements``, also datasets declaring more elements than that in all. A
    file too damaged to walk is refused as unreadable."""
    try:
        _walk(f, source, error, max_elements)
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as err:  # HDF5's errors on damaged files
        raise error(f"{source}: not a readable HDF5 file ({_one_line(err)})") from None


def _one_line(err: Exception) -> str:
    return shown(" ".join(str(err).split()))


def _walk(f: h5py.File, source: str, error: type[Exception], max_elements: int | None) -> None:
    # the first link that is not a hard link, if any (an exception raised inside
    # h5py's link visitor does not come out as itself)
    found = f.visititems_links(lambda name, target: None if isinstance(target, h5py.HardLink) else (name, target))
    if found is not None:
        name, target = shown(found[0]), found[1]
        if isinstance(target, h5py.ExternalLink):
            raise error(f"{source}: /{name}: is an external link to {shown(target.filename)}:{shown(target.path)}; "
                        f"links to other files are refused")
        if isinstance(target, h5py.SoftLink):
            raise error(f"{source}: /{name}: is a soft link to '{shown(target.path)}'; only hard links are read "
                        f"(soft links can dangle or loop)")
        raise error(f"{source}: /{name}: is a link of an unknown kind ({type(target).__name__}); refused")
    _check_attributes(f, f"{source}: /", error)
    total = 0

    def visit(name: str, obj) -> None:
        nonlocal total
        where = f"{source}: /{shown(name)}"
        if isinstance(obj, h5py.Dataset):
            elements = _check_dataset(obj, where, error)
            if elements > MAX_ELEMENTS:
                raise error(f"{where}: declares {elements} elements (shape {obj.shape}), more than the "
                            f"{MAX_ELEMENTS} allowed")
            total += elements
            if max_elements is not None and total > max_elements:
                raise error(f"{source}: its datasets declare more than {max_elements} elements in all "
                            f"(reached at /{shown(name)}, shape {obj.shape}); refused")
        elif not isinstance(obj, h5py.Group):
            raise error(f"{where}: is a {type(obj).__name__}, not a group or dataset; refused")
        _check_attributes(obj, where, error)
    f.visititems(visit)


def open_hdf5(path: str | os.PathLike, error: type[Exception], max_elements: int | None = None,
              what: str = "HDF5 file") -> h5py.File:
    """``path`` opened read-only after :func:`check_structure`; an unreadable file
    (``not a readable WHAT``) or a refusal raises ``error`` naming ``path``. The
    caller closes the file."""
    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as err:
        raise error(f"{path}: not a readable {what} ({_one_line(err)})") from None
    try:
        check_structure(f, str(path), error, max_elements)
    except BaseException:
        f.close()
        raise
    return f


def read_dataset(item, where: str, error: type[Exception], kind: str = "number",
                 max_elements: int = MAX_ELEMENTS) -> np.ndarray:
    """The data of ``item`` (a dataset of a file from :func:`open_hdf5`) as an array, after
    checking, before reading, that it is a dataset of ``kind`` (``"number"``:
    integers, floats or booleans; ``"string"``; ``"ragged"``: rows of numbers)
    declaring at most ``max_elements`` elements (the bound the file's other
    fields allow). ``where`` names the dataset in errors."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if not isinstance(item, h5py.Dataset):
        raise error(f"{where}: is a group, expected a dataset")
    found = _kind_of(item.dtype)
    if found != kind:
        raise error(f"{where}: must hold {'numbers' if kind == 'number' else kind + 's'}, got dtype {item.dtype}")
    shape = item.shape if item.shape is not None else (0,)
    elements = int(np.prod(shape, dtype=object))
    limit = min(max_elements, MAX_ELEMENTS)
    if elements > limit:
        raise error(f"{where}: declares shape {shape} ({elements} elements), more than the {limit} the "
                    f"file's other fields allow")
    if kind == "string" and item.dtype.kind == "S" and elements * item.dtype.itemsize > MAX_ELEMENTS:
        raise error(f"{where}: declares strings of {item.dtype.itemsize} bytes each, too long to read")
    try:
        return np.asarray(item[()]) if item.shape is not None else np.zeros(0, item.dtype)
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as err:  # damaged data, missing filters
        raise error(f"{where}: cannot read ({_one_line(err)})") from None


def read_attribute(obj, name: str, where: str, error: type[Exception], kind: str = "string",
                   max_elements: int = 1):
    """Attribute ``name`` of ``obj`` (``None`` where absent), checked as
    :func:`read_dataset` checks a dataset."""
    if name not in obj.attrs:
        return None
    attribute = obj.attrs.get_id(name)
    if _kind_of(attribute.dtype) != kind:
        raise error(f"{where}: attribute '{name}' must hold {kind}s, got dtype {attribute.dtype}")
    elements = int(np.prod(attribute.shape, dtype=object)) if attribute.shape is not None else 0
    if elements > max_elements:
        raise error(f"{where}: attribute '{name}' has {elements} elements, expected at most {max_elements}")
    try:
        return obj.attrs[name]
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as err:
        raise error(f"{where}: attribute '{name}' cannot be read ({_one_line(err)})") from None
