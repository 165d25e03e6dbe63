"""Similar-image search: nearest neighbours of a query among indexed images, by the L2 distance between their
codes z = encode(x) (any model with the "latent" capability: ae, vae, pca, flow, ...) or, as a baseline,
between their raw pixels. The indexes are FAISS's (Johnson, Douze & Jegou 2019, "Billion-scale similarity
search with GPUs"; the `apps` extra installs faiss-cpu):

- "flat": exact, every distance computed;
- "ivf": an inverted file (Jegou, Douze & Schmid 2011): k-means splits the codes into `nlist` cells and a
  query visits the `nprobe` cells nearest to it (faiss seeds its own k-means: the index is deterministic);
- "hnsw": a hierarchical navigable small-world graph (Malkov & Yashunin 2018), `m` links per node,
  `ef_search` candidates kept while searching.

The approximate indexes are for large collections; how much they miss is recall@k against the flat index
(`genlab.eval.retrieval.recall_at_k`). `index_bytes` / `read_index` keep an index in one file (safetensors:
faiss's own serialization as a uint8 tensor, and what it was built from as string metadata), so a large
collection is encoded once; `fingerprint` names the exact weights and images it holds, to refuse an index of
another model or other images.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import torch

from genlab.apps.latents import check_images, encode_images, require_latent

IndexKind = Literal["flat", "ivf", "hnsw"]
INDEX_KINDS: tuple[str, ...] = get_args(IndexKind)
Vectors = Literal["latent", "pixels"]
VECTORS: tuple[str, ...] = get_args(Vectors)
INDEX_FORMAT = "genlab-search-index 1"


def faiss_module() -> Any:
    """The faiss module, or ValueError saying how to install it."""
    try:
        import faiss
    except ImportError:
        raise ValueError("similar-image search needs faiss: pip install 'genlab[apps]' (or pip install faiss-cpu)") \
            from None
    return faiss


def image_vectors(model: torch.nn.Module | None, x: torch.Tensor, *, shape: tuple[int, ...] | None = None,
                  batch_size: int = 500) -> torch.Tensor:
    """(n, d) float32 vectors to index: the model's codes, or the flattened pixels when `model` is None.

    Args:
        model: a model with the "latent" capability, or None for raw pixels.
        x: (n, c, h, w) images in [0, 1] (uint8 is scaled).
        shape: the (c, h, w) every image must have (default: the model's, or x's own for pixels).
    """
    if model is not None:
        require_latent(model, "similar-image search by codes", " (or search raw pixels: --vectors pixels)")
        return encode_images(model, x, batch_size=batch_size).cpu()
    x = check_images(x, tuple(shape) if shape is not None else tuple(torch.as_tensor(x).shape[1:]))
    return x.flatten(1)


def _empty_error(what: str) -> ValueError:
    return ValueError(f"{what}: the index is empty; index at least one image (e.g. a test split, --split test)")


def default_nlist(n: int) -> int:
    """IVF cells for n vectors: about 4 sqrt(n), with at least 39 training vectors per cell (faiss's minimum)."""
    return max(1, min(round(4 * math.sqrt(n)), n // 39))


def build_index(vectors: torch.Tensor, kind: IndexKind = "flat", *, nlist: int | None = None, nprobe: int = 8,
                m: int = 32, ef_search: int = 64) -> Any:
    """A FAISS index of (n, d) vectors (row i gets id i).

    Args:
        kind: "flat" (exact), "ivf" or "hnsw" (approximate).
        nlist: IVF cells (default `default_nlist(n)`); nprobe: cells a query visits.
        m: HNSW links per node; ef_search: HNSW candidates kept while searching.
    """
    faiss = faiss_module()
    if kind not in INDEX_KINDS:
        raise ValueError(f"unknown index {kind!r}; valid: {', '.join(INDEX_KINDS)}")
    v = torch.as_tensor(vectors).detach().float().cpu()
    if v.ndim != 2 or v.shape[0] == 0:
        raise _empty_error(f"cannot build an index of {tuple(v.shape)} vectors")
    n, d = v.shape
    data = v.contiguous().numpy()
    if kind == "flat":
        index = faiss.IndexFlatL2(d)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, m)
        index.hnsw.efSearch = ef_search
    else:
        cells = nlist or default_nlist(n)
        if not 1 <= cells <= n:
            raise ValueError(f"nlist must be in [1, {n}] (the vectors), got {cells}")
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, cells)
        index.train(data)
        index.nprobe = min(nprobe, cells)
    index.add(data)
    return index


@dataclass
class Hits:
    """What `search` returns: ids (q, k) int64 of the indexed images, nearest first, and their squared L2
    distances (q, k)."""

    ids: torch.Tensor
    distances: torch.Tensor


def search(index: Any, queries: torch.Tensor, k: int = 10) -> Hits:
    """The k nearest indexed vectors of each query (k is cut to the index's size).

    Args:
        index: a `build_index` index.
        queries: (q, d) vectors made like the indexed ones (`image_vectors` with the same model).
    """
    if index.ntotal == 0:
        raise _empty_error("cannot search")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    q = torch.as_tensor(queries).detach().float().cpu()
    if q.ndim != 2 or q.shape[1] != index.d:
        raise ValueError(f"queries must be (q, {index.d}) vectors like the indexed ones, got {tuple(q.shape)}")
    distances, ids = index.search(q.contiguous().numpy(), min(k, index.ntotal))
    return Hits(torch.from_numpy(ids).long(), torch.from_numpy(distances))


def similar_images(model: torch.nn.Module | None, collection: torch.Tensor, queries: torch.Tensor, k: int = 10, *,
                   kind: IndexKind = "flat", **index_options: Any) -> Hits:
    """Index `collection` (n, c, h, w) by the model's codes (raw pixels when model is None) and find the k
    nearest of each query image (q, c, h, w): the whole app in one call."""
    shape = tuple(model.shape) if model is not None else tuple(torch.as_tensor(collection).shape[1:])
    if torch.as_tensor(collection).shape[0] == 0:
        raise _empty_error("cannot search an empty collection")
    index = build_index(image_vectors(model, collection, shape=shape), kind, **index_options)
    return search(index, image_vectors(model, queries, shape=shape), k)


def fingerprint(*tensors: torch.Tensor) -> str:
    """sha256 (16 hex digits) over the tensors' dtypes, shapes and bytes, in order: the same weights (a model's
    state dict values) or images give the same string on every machine."""
    h = hashlib.sha256()
    for t in tensors:
        t = torch.as_tensor(t).detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def model_fingerprint(model: torch.nn.Module) -> str:
    """`fingerprint` of a model's state dict (names and values, sorted by name)."""
    state = model.state_dict()
    names = sorted(state)
    return fingerprint(torch.tensor(list("\0".join(names).encode()), dtype=torch.uint8), *(state[k] for k in names))


def index_bytes(index: Any, about: dict[str, str]) -> bytes:
    """A safetensors file's bytes holding `index` (faiss's serialization) and `about` (str -> str: what the
    indexed vectors were made from), for `read_index`."""
    from safetensors.torch import save

    faiss = faiss_module()
    blob = torch.from_numpy(faiss.serialize_index(index).copy())
    return save({"faiss": blob}, metadata={"format": INDEX_FORMAT, **{str(k): str(v) for k, v in about.items()}})


def read_index(path: str | Path) -> tuple[Any, dict[str, str]]:
    """(index, about) from a file of `index_bytes`; ValueError naming the file and what is wrong with it."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such index file; write one with --save-index")
    try:
        with safe_open(str(path), "pt") as f:
            about = dict(f.metadata() or {})
            blob = f.get_tensor("faiss") if "faiss" in f.keys() else None
    except (SafetensorError, OSError, ValueError):
        about, blob = {}, None
    if about.get("format") != INDEX_FORMAT or blob is None:
        raise ValueError(f"{path} is not a genlab search index ({INDEX_FORMAT}); write one with "
                         "genlab search RUN --save-index FILE")
    faiss = faiss_module()
    try:
        index = faiss.deserialize_index(blob.numpy())
    except RuntimeError as e:
        raise ValueError(f"{path}: its faiss index is damaged ({str(e).strip().splitlines()[-1][:200]}); "
                         "write it again with --save-index") from None
    return index, about


__all__ = ["INDEX_FORMAT", "INDEX_KINDS", "VECTORS", "Hits", "IndexKind", "Vectors", "build_index", "default_nlist",
           "faiss_module", "fingerprint", "image_vectors", "index_bytes", "model_fingerprint", "read_index", "search",
           "similar_images"]
