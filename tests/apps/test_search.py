"""Similar-image search (genlab.apps.search), the retrieval figures (genlab.eval.retrieval), `genlab search`."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from genlab.apps import search as app
from genlab.apps.search import build_index, default_nlist, image_vectors, search, similar_images
from genlab.cli import main
from genlab.eval.retrieval import class_retrieval, precision_at_k, recall_at_k
from genlab.models import build_model
from tests.conftest import TINY, tiny_images


def tiny(family: str):
    torch.manual_seed(0)
    return build_model(family, TINY[family], shape=(1, 8, 8)).eval()


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
@pytest.mark.parametrize("family", [None, "ae", "vae"])
def test_a_query_returns_itself_first(kind, family):
    model = None if family is None else tiny(family)
    x = tiny_images(100).images()
    hits = similar_images(model, x, x[[3, 50, 99]], k=5, kind=kind, nlist=2)
    assert hits.ids[:, 0].tolist() == [3, 50, 99]
    assert hits.ids.shape == (3, 5) and torch.allclose(hits.distances[:, 0], torch.zeros(3), atol=1e-4)
    assert (hits.distances.diff(dim=1) >= 0).all()


def test_k_is_cut_to_the_index_and_ivf_takes_its_cells():
    v = torch.randn(50, 3, generator=torch.Generator().manual_seed(0))
    assert search(build_index(v), v[:2], k=80).ids.shape == (2, 50)
    assert default_nlist(50) == 1 and default_nlist(60000) == 980
    index = build_index(v, "ivf", nlist=4, nprobe=4)
    assert index.nlist == 4 and recall_at_k(search(build_index(v), v, 5).ids, search(index, v, 5).ids) == 1.0


def test_empty_index_and_bad_queries_are_one_line_errors():
    with pytest.raises(ValueError, match="the index is empty; index at least one image") as e:
        build_index(torch.zeros(0, 4))
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="the index is empty"):
        similar_images(tiny("ae"), torch.zeros(0, 1, 8, 8), torch.zeros(1, 1, 8, 8))
    empty = build_index(torch.ones(1, 4))
    empty.reset()
    with pytest.raises(ValueError, match="cannot search: the index is empty"):
        search(empty, torch.ones(1, 4))
    with pytest.raises(ValueError, match=r"must be of shape \(n, 1, 8, 8\).*got \(1, 1, 9, 9\)"):
        image_vectors(tiny("ae"), torch.zeros(1, 1, 9, 9))
    with pytest.raises(ValueError, match=r"queries must be \(q, 4\) vectors"):
        search(build_index(torch.ones(3, 4)), torch.ones(1, 5))
    with pytest.raises(ValueError, match="a gan model has none. Families that have one: ae, cae, dae.*--vectors pix"):
        image_vectors(tiny("gan"), torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="unknown index 'lsh'; valid: flat, ivf, hnsw"):
        build_index(torch.ones(3, 4), "lsh")


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_an_index_file_round_trip_answers_as_the_index_did(tmp_path, kind):
    v = torch.randn(200, 6, generator=torch.Generator().manual_seed(0))
    index = build_index(v, kind, nlist=4)
    path = tmp_path / "a.index"
    path.write_bytes(app.index_bytes(index, {"vectors": "pixels", "n": 200}))
    loaded, about = app.read_index(path)
    assert about["vectors"] == "pixels" and about["n"] == "200" and loaded.ntotal == 200
    before, after = search(index, v[:7], 5), search(loaded, v[:7], 5)
    assert torch.equal(before.ids, after.ids) and torch.equal(before.distances, after.distances)


def test_bad_index_files_are_one_line_errors(tmp_path):
    good = app.index_bytes(build_index(torch.ones(3, 4)), {})
    (tmp_path / "cut.index").write_bytes(good[:60])
    (tmp_path / "text.index").write_text("not an index")
    for name, message in (("missing.index", "no such index file; write one with --save-index"),
                          ("cut.index", "is not a genlab search index"),
                          ("text.index", "is not a genlab search index")):
        with pytest.raises(ValueError, match=message) as e:
            app.read_index(tmp_path / name)
        assert "\n" not in str(e.value)


def test_fingerprints_name_the_exact_weights_and_images():
    a, b = tiny("ae"), tiny("ae")
    assert app.model_fingerprint(a) == app.model_fingerprint(b)
    with torch.no_grad():
        next(b.parameters())[0].add_(1e-6)
    assert app.model_fingerprint(a) != app.model_fingerprint(b)
    x = torch.zeros(2, 3)
    prints = [app.fingerprint(t) for t in (x, x.clone(), x.double(), x.view(3, 2))]
    assert prints[0] == prints[1] and len(set(prints)) == 3  # the same bytes, but other dtype or shape
    assert app.fingerprint(torch.zeros(2, dtype=torch.bfloat16)) != app.fingerprint(torch.zeros(1, dtype=torch.float32))


def test_recall_precision_and_map_by_hand():
    exact = torch.tensor([[0, 1, 2], [3, 4, 5]])
    assert recall_at_k(exact, torch.tensor([[2, 1, 9], [5, 4, 3]])) == pytest.approx((2 / 3 + 1) / 2)
    assert recall_at_k(exact, torch.tensor([[-1, -1, -1], [3, -1, -1]])) == pytest.approx(1 / 6)
    p = precision_at_k(torch.tensor([[1, 1, 0], [0, 0, 0]]), torch.tensor([1, 0]))
    assert p.tolist() == pytest.approx([2 / 3, 1])
    # points on a line: 0 and 1 (class 0), 10 (class 1), 3 (class 1). From 0: 1 (rel), 3, 10 -> AP 1; from 1: 0 (rel),
    # 3, 10 -> AP 1; from 3: 1, 0, 10 (rel at rank 3) -> AP 1/3; from 10: 3 (rel) -> AP 1
    v = torch.tensor([[0.0], [1.0], [10.0], [3.0]])
    y = torch.tensor([0, 0, 1, 1])
    out = class_retrieval(v, y, k=1, chunk=3)
    assert out["precision@1"] == pytest.approx(3 / 4) and out["mAP"] == pytest.approx((1 + 1 + 1 + 1 / 3) / 4)


def test_cli_search(tmp_path, capsys):
    main(["train", "vae", "--data", "digits", "--arch", "mlp", "--hidden", "16", "--latent-dim", "4",
          "--train.steps", "2", "--train.no-progress", "--runs-dir", str(tmp_path), "--name", "v"])
    main(["train", "gan", "--data", "digits", "--latent-dim", "8", "--g-hidden", "16", "--d-hidden", "16",
          "--coverage-every", "0", "--train.steps", "1", "--train.no-progress", "--runs-dir", str(tmp_path),
          "--name", "g"])
    capsys.readouterr()
    run, png = str(tmp_path / "v"), tmp_path / "q.png"
    Image.fromarray((torch.rand(20, 20) * 255).byte().numpy()).save(png)
    main(["search", run, "--query", "test:7", "test:11", str(png), "-k", "4", "--out", str(tmp_path / "s.png")])
    out = capsys.readouterr().out
    assert "3 queries and their 4 nearest of 297 test images by vae codes (4 dims)" in out
    assert "nearest ids [7, 11," in out and Image.open(tmp_path / "s.png").size[0] > 5 * 16
    main(["search", run, "--vectors", "pixels", "--index", "hnsw", "--query", "train:5", "--split", "train",
          "--limit", "100", "--out", str(tmp_path / "h.png")])
    out = capsys.readouterr().out
    assert "of 100 train images by raw pixels; nearest ids [5]" in out and "hnsw index: recall@8" in out
    saved = tmp_path / "test.index"
    main(["search", run, "--index", "hnsw", "--query", "test:7", "--save-index", str(saved), "--out",
          str(tmp_path / "i.png")])
    first = capsys.readouterr().out
    assert f"wrote {saved}: a hnsw index of 297 test images by vae codes" in first
    main(["search", run, "--load-index", str(saved), "--query", "test:7", "--out", str(tmp_path / "l.png")])
    again = capsys.readouterr().out
    assert "recall" in first and "recall" not in again and "of 297 test images by vae codes (4 dims)" in again
    assert Image.open(tmp_path / "i.png").tobytes() == Image.open(tmp_path / "l.png").tobytes()  # the same hits
    main(["train", "vae", "--data", "digits", "--arch", "mlp", "--hidden", "16", "--latent-dim", "4",
          "--train.steps", "3", "--train.no-progress", "--runs-dir", str(tmp_path), "--name", "v2"])
    capsys.readouterr()
    for args, message in (([str(tmp_path / "g")], "a gan model has none. Families that have one: ae"),
                          ([run, "--load-index", str(saved), "--split", "train"], "was built with --split test; pass "
                                                                                  "--split test"),
                          ([run, "--load-index", str(saved), "--limit", "9"], "--limit all; pass no --limit"),
                          ([run, "--load-index", str(saved), "--vectors", "pixels"], "pass --vectors latent"),
                          ([str(tmp_path / "v2"), "--load-index", str(saved)], "holds the codes of other weights"),
                          ([run, "--save-index", str(saved)], f"--save-index {saved} already exists; pass --overwrite"),
                          ([run, "--save-index", str(saved), "--load-index", str(saved)], "give one"),
                          ([run, "--load-index", str(tmp_path / "s.png")], "is not a genlab search index"),
                          ([run, "--query", "test:100000"], "--query test:100000: the index must be in"),
                          ([run, "--limit", "0"], "--limit must be >= 1")):
        with pytest.raises(SystemExit):
            main(["search", *args, "--out", str(tmp_path / "x.png")])
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
