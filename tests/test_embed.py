"""Embed: the default network is really ImageNet-trained; vectors are cached per image."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from flowclass.engine import Engine
from flowclass.workflow_file import loads
from nodes.lib.embedders import spec_id
from nodes.lib.embedders.classic import ColourHistogram, RawPixels
from tests.conftest import REPO


def embed_workflow(registry, folder, **params):
    doc = {"schema_version": 1, "nodes": [
        {"id": "import", "type": "import_images", "params": {"folder": str(folder)}},
        {"id": "embed", "type": "embed", "params": params}],
        "edges": [{"from": {"node": "import", "port": "images"}, "to": {"node": "embed", "port": "images"}}]}
    return loads(json.dumps(doc), registry)


@pytest.fixture(scope="module")
def torch_model():
    from nodes.lib.embedders.efficientnet import load_torch_model

    return load_torch_model()


def test_efficientnet_weights_are_imagenet_trained(torch_model):
    """The packaged weights, paired into timm's model, recognise real photos."""
    import skimage.data
    import torch
    from timm.data import ImageNetInfo

    from nodes.lib.embedders.efficientnet import preprocess

    batch = torch.from_numpy(np.stack([preprocess(Image.fromarray(skimage.data.chelsea())),
                                       preprocess(Image.fromarray(skimage.data.coffee()))]))
    with torch.inference_mode():
        logits = torch_model(batch)
    info = ImageNetInfo()
    top = [info.index_to_description(int(i)) for i in logits.argmax(1)]
    assert "cat" in top[0].lower()
    assert top[1].lower() == "espresso"


def test_onnx_runtime_matches_pytorch_on_real_photos(torch_model, shared_cache, photos_dir):
    import torch

    from nodes.lib.embedders.efficientnet import EfficientNetLite0
    from flowclass.userfiles.pictures import open_rgb

    embedder = EfficientNetLite0(shared_cache.store_dir("models"))
    paths = sorted(str(p) for p in photos_dir.rglob("*.jpg"))
    batch = np.stack([embedder.preprocess(open_rgb(p)) for p in paths])
    with torch.inference_mode():
        expected = torch_model.forward_head(torch_model.forward_features(torch.from_numpy(batch)),
                                            pre_logits=True).numpy()
    got = embedder.forward(batch)
    assert got.shape == (len(paths), 1280)
    assert np.abs(got - expected).max() < 1e-4
    assert embedder.spec["weights_sha256"] and embedder.spec["dim"] == 1280


def test_embed_node_reuses_vectors_per_image(registry, shared_cache, tmp_path, photos_dir, monkeypatch):
    import shutil

    from nodes.lib.embedders import efficientnet

    engine = Engine(registry, shared_cache)
    first = engine.run(embed_workflow(registry, photos_dir), out_dir=tmp_path / "a")
    embeddings = first.output("embed", "embeddings")
    assert embeddings.vectors.shape == (5, 1280) and embeddings.vectors.dtype == np.float32
    assert first.outcomes["embed"].records["embedder"]["backend"] == "efficientnet_lite0"
    # the same pictures in another folder, plus one new one: only the new one is embedded
    other = tmp_path / "other"
    shutil.copytree(photos_dir, other)
    import skimage.data

    Image.fromarray(skimage.data.astronaut()[::2, ::2]).save(other / "things" / "small.png")
    seen = []
    original = efficientnet.EfficientNetLite0.forward
    monkeypatch.setattr(efficientnet.EfficientNetLite0, "forward",
                        lambda self, batch: seen.append(len(batch)) or original(self, batch))
    second = engine.run(embed_workflow(registry, other), out_dir=tmp_path / "b")
    assert seen == [1]
    again = second.output("embed", "embeddings")
    index = {os.path.basename(p): i for i, p in enumerate(again.images.paths)}
    for i, path in enumerate(embeddings.images.paths):
        assert np.array_equal(again.vectors[index[os.path.basename(path)]], embeddings.vectors[i])


def test_pixels_backend_is_the_seed_normalisation():
    image = Image.new("RGB", (64, 64), (244, 240, 125))  # the seed's yellowish paper pixel
    image.paste((63, 74, 157), (0, 0, 32, 64))  # and its blue ink
    gray = RawPixels(size=8, grayscale=True, binarize=False, threshold=128).preprocess(image)
    assert gray.shape == (64,) and gray.max() <= 1.0
    assert gray.reshape(8, 8)[0, 7] == pytest.approx((244 + 240 + 125) / 3 / 255, abs=1e-3)
    binary = RawPixels(size=8, grayscale=True, binarize=True, threshold=128).preprocess(image)
    assert set(np.unique(binary)) == {0.0, 1.0}
    assert binary.reshape(8, 8)[0, 0] == 0.0 and binary.reshape(8, 8)[0, 7] == 1.0
    assert RawPixels(8, False, False, 128).preprocess(image).shape == (192,)


@pytest.mark.parametrize("space", ["rgb", "hsv", "lab"])
def test_colour_histograms_sum_to_one_and_tell_colours_apart(space):
    import skimage.data

    hist = ColourHistogram(space, 4)
    coffee = hist.preprocess(Image.fromarray(skimage.data.coffee()))
    rocket = hist.preprocess(Image.fromarray(skimage.data.rocket()))
    assert coffee.shape == (64,) and coffee.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.abs(coffee - rocket).sum() > 0.3


def _gray_and_rgb():
    import skimage.data

    gray = Image.fromarray(skimage.data.camera()[::3, ::2])  # 171 x 256, not square
    return gray, gray.convert("RGB")


def test_a_gray_picture_gives_the_vectors_of_its_rgb_copy_without_one():
    """Raw pixels and colour histograms shrink a gray picture (a 1-bit one is read as gray)
    before they make it RGB: the whole picture in RGB was 4 bytes a pixel to gray's 1. The
    vectors are those of the RGB copy, to the bit."""
    gray, rgb = _gray_and_rgb()
    embedders = [RawPixels(size, grey, binary, 100) for size in (16, 40)
                 for grey in (False, True) for binary in (False, True)]
    embedders += [ColourHistogram(space, 8) for space in ("rgb", "hsv", "lab")]
    for embedder in embedders:
        assert np.array_equal(embedder.preprocess(gray), embedder.preprocess(rgb)), embedder.spec
    assert gray.mode == "L" and gray.size == (256, 171)  # the caller's picture, left whole


@pytest.mark.slow
def test_clip_takes_a_gray_picture_as_it_is_with_the_vectors_of_its_rgb_copy():
    """open_clip's transform resizes and crops before it makes the picture RGB: a gray one goes
    in as it is (not made RGB whole first), with the numbers of its RGB copy, to the bit."""
    from nodes.lib.embedders.openclip import OpenClipEmbedder

    clip = OpenClipEmbedder("ViT-B-32", "random")
    assert clip.gray_resized
    gray, rgb = _gray_and_rgb()
    assert np.array_equal(clip.preprocess(gray), clip.preprocess(rgb))


@pytest.mark.slow
def test_open_clip_code_path_with_random_weights(registry, cache, tmp_path, photos_dir):
    result = Engine(registry, cache).run(
        embed_workflow(registry, photos_dir, backend="open_clip", clip_model="ViT-B-32",
                       clip_weights="random", batch_size=4), out_dir=tmp_path)
    embeddings = result.output("embed", "embeddings")
    assert embeddings.vectors.shape == (5, 512)
    assert np.allclose(np.linalg.norm(embeddings.vectors, axis=1), 1.0, atol=1e-4)
    assert embeddings.embedder["weights"] == "random"


@pytest.mark.slow
def test_a_picture_too_narrow_for_clip_is_skipped_with_the_reason(registry, cache, tmp_path, photos_dir):
    """CLIP's preprocessing scales a picture's shorter side to 224 pixels before cropping it: a
    stranger's PNG of 1 x 100,000 pixels (a few hundred bytes, far under Pillow's limit) would
    become 224 x 22,400,000 pixels, 15 GB (1 x 6,000 took 1.25 GB more). Such a picture is skipped
    with the reason, the others embedded."""
    import shutil

    folder = tmp_path / "photos"
    shutil.copytree(photos_dir, folder)
    Image.new("RGB", (1, 2_000), "white").save(folder / "things" / "thread.png")
    result = Engine(registry, cache).run(
        embed_workflow(registry, folder, backend="open_clip", clip_model="ViT-B-32",
                       clip_weights="random", batch_size=4), out_dir=tmp_path / "out")
    embeddings = result.output("embed", "embeddings")
    assert embeddings.vectors.shape == (5, 512)
    (skipped,) = [row for row in result.outcomes["embed"].skipped if row[0].endswith("thread.png")]
    assert "1x2000 pixels" in skipped[1] and "too narrow" in skipped[1], skipped


def test_missing_open_clip_weights_are_a_clear_error_not_a_download(registry, cache, tmp_path,
                                                                     photos_dir, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf"))  # an empty user cache
    result = Engine(registry, cache).run(
        embed_workflow(registry, photos_dir, backend="open_clip", clip_weights="laion2b_s34b_b79k"),
        out_dir=tmp_path)
    outcome = result.outcomes["embed"]
    assert outcome.state == "failed" and outcome.field == "clip_weights"
    assert "not on this machine" in outcome.error and "does not download" in outcome.error
    missing_file = Engine(registry, cache).run(
        embed_workflow(registry, photos_dir, backend="open_clip", clip_weights="weights/none.pt"),
        out_dir=tmp_path).outcomes["embed"]
    assert missing_file.state == "failed" and missing_file.field == "clip_weights"
    assert "file not found" in missing_file.error and "none.pt" in missing_file.error


@pytest.mark.slow
def test_a_fully_cached_run_imports_no_model_library(tmp_path, photos_dir, shared_cache):
    """Re-running an unchanged workflow does no work, and never even imports torch (nor
    matplotlib: its pictures are in the cache and already in --out; nor scipy, pandas or a
    progress bar)."""
    workflow = tmp_path / "wf.json"
    text = (REPO / "workflows" / "cluster_folder.json").read_text()
    workflow.write_text(text)
    script = (
        "import sys, json\nfrom flowclass.cli import main\n"
        f"code = main(['run', {str(workflow)!r}, '--out', {str(tmp_path / 'out')!r}, '--cache', "
        f"{str(shared_cache.root)!r}, '-q', '--set', 'import.folder={photos_dir}', "
        "'--set', 'cluster.n_clusters=2'])\n"
        "print(json.dumps({'code': code, 'modules': sorted(m for m in ('torch', 'onnxruntime', "
        "'timm', 'open_clip', 'sklearn', 'matplotlib', 'scipy', 'pandas', 'tqdm') "
        "if m in sys.modules)}))\n")
    runs = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    assert runs[0]["code"] == 0
    assert runs[1] == {"code": 0, "modules": []}
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    assert {n["state"] for n in manifest["nodes"].values()} == {"cached"}


def test_device_auto_falls_back_to_the_cpu_and_says_which_ran(registry, shared_cache, photos_dir, tmp_path):
    """device=auto runs where it can and records it; with a GPU, its vectors equal the CPU's."""
    from nodes.lib.embedders.devices import cuda_available

    engine = Engine(registry, shared_cache)
    cpu = engine.run(embed_workflow(registry, photos_dir, device="cpu"), out_dir=tmp_path / "cpu")
    auto = engine.run(embed_workflow(registry, photos_dir, device="auto"), out_dir=tmp_path / "auto")
    assert cpu.ok and auto.ok
    assert cpu.outcomes["embed"].records["device"] == "cpu"
    expected = "cuda" if cuda_available() else "cpu"
    if auto.outcomes["embed"].state == "done":  # vectors may all come from the per-image store
        assert auto.outcomes["embed"].records["device"] == expected
    manifest = json.loads((tmp_path / "auto" / "run.json").read_text())
    assert manifest["nodes"]["embed"]["params"]["device"] == "auto"
    a = cpu.output("embed", "embeddings").vectors
    b = auto.output("embed", "embeddings").vectors
    assert a.shape == (5, 1280) and np.allclose(a, b, atol=1e-5)


def test_asking_for_cuda_without_a_gpu_names_the_field(registry, cache, photos_dir, tmp_path):
    from nodes.lib.embedders.devices import cuda_available, resolve_device

    if cuda_available():  # the GPU path itself: same vectors as the CPU's
        from nodes.lib.embedders.efficientnet import EfficientNetLite0
        from flowclass.userfiles.pictures import open_rgb

        paths = sorted(str(p) for p in photos_dir.rglob("*.jpg"))
        on_cpu = EfficientNetLite0(cache.store_dir("models"), device="cpu")
        on_gpu = EfficientNetLite0(cache.store_dir("models"), device="cuda")
        batch = np.stack([on_cpu.preprocess(open_rgb(p)) for p in paths])
        assert np.allclose(on_cpu.forward(batch), on_gpu.forward(batch), atol=1e-4)
        assert resolve_device("auto") == "cuda"
        return
    result = Engine(registry, cache).run(
        embed_workflow(registry, photos_dir, device="cuda"), out_dir=tmp_path)
    outcome = result.outcomes["embed"]
    assert outcome.state == "failed" and outcome.field == "device"
    assert "no CUDA GPU" in outcome.error and "auto" in outcome.hint
    assert resolve_device("auto") == "cpu" and resolve_device("cpu") == "cpu"


def test_flowclass_prepared_moves_only_the_model_and_samples_and_caches_share_them(tmp_path, monkeypatch):
    """The prepared model and the sample images are the same for every cache: with
    $FLOWCLASS_PREPARED two caches (or the whole test run) find them in one folder; the
    other stores stay in each cache."""
    from flowclass.cache import Cache

    monkeypatch.setenv("FLOWCLASS_PREPARED", str(tmp_path / "prepared"))
    first, second = Cache(tmp_path / "a"), Cache(tmp_path / "b")
    for name in ("models", "samples"):
        assert first.store_dir(name) == second.store_dir(name) == tmp_path / "prepared" / name
        assert (tmp_path / "prepared" / name).is_dir()
    assert first.store_dir("embeddings") == tmp_path / "a" / "stores" / "embeddings"
    monkeypatch.delenv("FLOWCLASS_PREPARED")
    assert first.store_dir("models") == tmp_path / "a" / "stores" / "models"


def test_runs_that_start_together_export_the_model_once(tmp_path):
    """Two threads (two runs, two test workers) wanting the model at once: one exports it,
    the other waits and uses that file."""
    import threading
    import time

    from nodes.lib.embedders.efficientnet import prepare_once

    exports = []

    def slow_export(target):
        exports.append(target)
        time.sleep(0.5)
        target.write_bytes(b"model")

    target = tmp_path / "model.onnx"
    threads = [threading.Thread(target=prepare_once, args=(target, slow_export)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert exports == [target] and target.read_bytes() == b"model"


@pytest.mark.slow
def test_int8_model_recognises_real_photos_as_float32_does(torch_model, shared_cache, tmp_path):
    """The quantised network is calibrated once, deterministically, and still sees a cat and
    an espresso; its vectors stay close to float32's and are stored apart from them."""
    import skimage.data
    from timm.data import ImageNetInfo

    from nodes.lib.embedders import spec_id
    from nodes.lib.embedders.efficientnet import EfficientNetLite0, quantize_int8

    models = shared_cache.store_dir("models")
    fp32, int8 = (EfficientNetLite0(models, precision=p) for p in ("fp32", "int8"))
    assert int8.onnx_file != fp32.onnx_file and int8.onnx_file.stat().st_size < fp32.onnx_file.stat().st_size / 3
    batch = np.stack([int8.preprocess(Image.fromarray(skimage.data.chelsea())),
                      int8.preprocess(Image.fromarray(skimage.data.coffee()))])
    exact, quantised = fp32.forward(batch), int8.forward(batch)
    cosine = (exact * quantised).sum(1) / np.linalg.norm(exact, axis=1) / np.linalg.norm(quantised, axis=1)
    assert cosine.min() > 0.97
    info = ImageNetInfo()
    head = torch_model.get_classifier()
    weight, bias = head.weight.detach().numpy(), head.bias.detach().numpy()
    for vectors in (exact, quantised):
        top = [info.index_to_description(int(i)).lower() for i in np.argmax(vectors @ weight.T + bias, axis=1)]
        assert "cat" in top[0] and top[1] == "espresso"
    assert int8.spec["precision"] == "int8" and "precision" not in fp32.spec
    assert spec_id(int8.spec) != spec_id(fp32.spec)  # int8 vectors never pass for float32 ones
    quantize_int8(fp32.onnx_file, tmp_path / "again.onnx")
    assert (tmp_path / "again.onnx").read_bytes() == int8.onnx_file.read_bytes()


def test_a_workflow_saved_before_int8_keeps_float32(registry):
    """Embed v3 added precision (int8 for new nodes); a v2 node keeps the vectors it had."""
    from nodes.embed import params_from_spec

    doc = {"schema_version": 1, "nodes": [{"id": "embed", "type": "embed", "version": 2,
                                            "params": {"backend": "efficientnet_lite0"}}], "edges": []}
    old = loads(json.dumps(doc), registry)
    assert old.node("embed").version == 3 and old.node("embed").params["precision"] == "fp32"
    from flowclass.workflow_file import new_node

    added = new_node(old, registry.get("embed"))
    assert added.version == 3 and added.params["precision"] == "int8"
    # a model trained on int8 vectors embeds new images the same way, on a CPU
    params = params_from_spec({"backend": "efficientnet_lite0", "precision": "int8"})
    assert params["precision"] == "int8" and params["device"] == "cpu"
    assert params_from_spec({"backend": "efficientnet_lite0"})["precision"] == "fp32"


def _preprocessed_as_before(image):
    """EfficientNet's preprocessing written out as it was before batches were filled in
    place: float32 pixels, times 2/255, minus 1, a gray image repeated on three channels."""
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    array = np.asarray(image.resize((224, 224), Image.BICUBIC), dtype=np.float32)
    array = array * np.float32(2 / 255) - np.float32(1)
    return np.broadcast_to(array, (3, 224, 224)) if array.ndim == 2 else array.transpose(2, 0, 1)


def test_batches_filled_in_place_are_the_same_to_the_bit(tmp_path):
    """Embed writes each image straight into its batch row (no stacking copy); the rows are
    exactly what stacking the old preprocessing gave, for gray, colour and transparent
    images, with a broken file in between taking no row."""
    import skimage.data

    from flowclass.userfiles.pictures import open_upright
    from nodes.embed import _load_batch
    from nodes.lib.embedders.efficientnet import EfficientNetLite0, preprocess

    Image.fromarray(skimage.data.camera()).resize((64, 64)).save(tmp_path / "gray.png")
    Image.fromarray(skimage.data.chelsea()).save(tmp_path / "colour.jpg")
    (tmp_path / "broken.png").write_bytes(b"not a picture")
    Image.fromarray(skimage.data.astronaut()).convert("RGBA").save(tmp_path / "clear.png")
    paths = [str(tmp_path / name) for name in ("gray.png", "broken.png", "colour.jpg", "clear.png")]

    embedder = EfficientNetLite0.__new__(EfficientNetLite0)  # no model needed to preprocess
    batch, errors = _load_batch(embedder, paths)

    decoded = [p for p, error in zip(paths, errors) if not error]
    assert [bool(error) for error in errors] == [False, True, False, False]
    expected = np.stack([_preprocessed_as_before(open_upright(p, 224)) for p in decoded])
    assert batch.dtype == np.float32 and batch.flags.c_contiguous
    assert np.array_equal(batch, expected)
    assert np.array_equal(preprocess(open_upright(decoded[1], 224)), expected[1])


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_batches_run_side_by_side_give_the_vectors_of_one_batch_at_a_time(
        registry, cache, photos_dir, tmp_path, monkeypatch, precision):
    """On a CPU, Embed runs batches side by side, each decoded and embedded by its own
    worker on one thread, the last round's images shared out among the workers; the vectors
    are, to the bit, those of the model given one batch at a time on all its threads (how
    every stored vector was made before), for real photos and gray digits."""
    import threading

    from sklearn.datasets import load_digits

    from flowclass.userfiles.pictures import open_upright
    from nodes.lib.embedders import efficientnet

    digits = load_digits()
    for i in range(6):
        Image.fromarray((digits.images[i] * 16).astype(np.uint8)).resize((64, 64)).save(
            tmp_path / f"digit{i}.png")
    folder = tmp_path / "pictures"
    import shutil

    shutil.copytree(photos_dir, folder)
    for i in range(6):
        shutil.move(tmp_path / f"digit{i}.png", folder / f"digit{i}.png")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the model's cores, whatever this machine has
    callers = set()
    original = efficientnet.EfficientNetLite0.forward
    monkeypatch.setattr(efficientnet.EfficientNetLite0, "forward",
                        lambda self, batch: callers.add(threading.current_thread()) or original(self, batch))
    result = Engine(registry, cache).run(  # a store with no vectors yet: every image is embedded
        embed_workflow(registry, folder, precision=precision, batch_size=2), out_dir=tmp_path / "out")
    embeddings = result.output("embed", "embeddings")
    assert len(embeddings.images) == 11 and len(callers) == 2
    assert threading.main_thread() not in callers  # the workers ran the model

    models = cache.store_dir("models")
    one_at_a_time = efficientnet.EfficientNetLite0(models, precision=precision, threads=2, side_by_side=False)
    assert one_at_a_time.batches_at_once == 1
    batch = np.stack([one_at_a_time.preprocess(open_upright(p, 224)) for p in embeddings.images.paths])
    expected = np.concatenate([original(one_at_a_time, batch[i:i + 2]) for i in range(0, len(batch), 2)])
    assert np.array_equal(embeddings.vectors, expected)


def test_a_model_file_is_loaded_once_per_process_even_from_a_copy(shared_cache, tmp_path):
    """An embedder of a model file already loaded (a server's next run, a copy of the file in
    another cache) runs on the session loaded before, with the same vectors; a file whose
    stamp changed is loaded anew."""
    import shutil

    from nodes.lib.embedders import efficientnet

    models = shared_cache.store_dir("models")
    first = efficientnet.EfficientNetLite0(models, precision="int8")
    copy = shutil.copytree(models, tmp_path / "models")  # the same names and stamps
    again = efficientnet.EfficientNetLite0(copy, precision="int8")
    pictures = [Image.new("RGB", (64, 64), (40 * i, 255 - 40 * i, 90)) for i in range(3)]
    batch = np.stack([first.preprocess(picture) for picture in pictures])
    assert np.array_equal(first.forward(batch), again.forward(batch))
    assert again._session is first._session
    os.utime(again.onnx_file, ns=(1, 1))
    changed = efficientnet.EfficientNetLite0(copy, precision="int8")
    assert np.array_equal(changed.forward(batch), first.forward(batch))
    assert changed._session is not first._session


def test_a_new_embedding_store_is_made_while_the_first_batches_run(registry, cache, photos_dir, tmp_path,
                                                                    monkeypatch):
    """Making a new store waits for the disk; meanwhile the first batches are decoded and
    embedded, and their vectors are kept once the store is there."""
    import threading

    from nodes.lib.embedders import efficientnet, store

    embedded = threading.Event()
    forward, make_store = efficientnet.EfficientNetLite0.forward, store.EmbeddingStore.__init__

    def forward_and_tell(self, batch):
        vectors = forward(self, batch)
        embedded.set()
        return vectors

    def made_after_a_batch(self, folder):
        assert embedded.wait(timeout=20), "no batch was embedded before the store was made"
        make_store(self, folder)

    monkeypatch.setattr(efficientnet.EfficientNetLite0, "forward", forward_and_tell)
    monkeypatch.setattr(store.EmbeddingStore, "__init__", made_after_a_batch)
    result = Engine(registry, cache).run(embed_workflow(registry, photos_dir), out_dir=tmp_path / "out")
    embeddings = result.output("embed", "embeddings")
    kept = store.EmbeddingStore(cache.store_dir("embeddings"))
    stored = kept.get_many(spec_id(embeddings.embedder), embeddings.images.hashes.tolist())
    kept.close()
    assert len(stored) == len(embeddings.images) == 5
    assert all(np.array_equal(stored[sha], vector)
               for sha, vector in zip(embeddings.images.hashes.tolist(), embeddings.vectors))


def test_batches_run_side_by_side_end_together():
    """Each image is in one batch, in order, none over the batch size; where batches run
    side by side, the images after the last full round are shared out one part per worker
    (so no worker runs a last batch alone while the others wait), and one batch at a time
    keeps whole batches and a short last one."""
    from nodes.embed import batch_bounds

    for count, size, at_once in [(600, 8, 2), (11, 2, 2), (30, 8, 2), (3, 8, 4), (20, 8, 1), (0, 8, 2)]:
        bounds = batch_bounds(count, size, at_once)
        assert [i for start, stop in bounds for i in range(start, stop)] == list(range(count))
        assert all(0 < stop - start <= size for start, stop in bounds)
    assert batch_bounds(600, 8, 2)[-3:] == [(584, 592), (592, 596), (596, 600)]
    assert batch_bounds(30, 8, 2)[-2:] == [(16, 23), (23, 30)]
    assert batch_bounds(3, 8, 4) == [(0, 1), (1, 2), (2, 3)]
    assert batch_bounds(20, 8, 1) == [(0, 8), (8, 16), (16, 20)]


def test_a_batch_of_vectors_is_stored_whole_or_not_at_all(tmp_path):
    """Embed keeps each batch as it is made; a write that fails part way (here a row SQLite
    cannot take, as a kill or a full disk would stop it) leaves none of the batch, so what
    is stored stays a prefix of whole batches, which a resumed run batches on from."""
    import sqlite3

    from nodes.lib.embedders.store import EmbeddingStore

    store = EmbeddingStore(tmp_path)
    vector = np.arange(4, dtype=np.float32)
    store.put_many("model", [("first", vector)])
    with pytest.raises(sqlite3.Error):
        store.put_many("model", [("second", vector), ("third", vector), (["no", "hash"], vector)])
    assert set(store.get_many("model", ["first", "second", "third"])) == {"first"}
    store.put_many("model", [("second", vector), ("third", vector)])  # the store still works
    assert set(store.get_many("model", ["first", "second", "third"])) == {"first", "second", "third"}
    store.close()


def test_a_first_run_loads_the_model_while_the_embedding_store_is_made(registry, cache, photos_dir,
                                                                         tmp_path, monkeypatch):
    """On a cache with no embedding store yet every image is new, so the model starts
    loading before the store is made (making a database waits for the disk) instead of
    after; a later run whose vectors are all stored never loads the model."""
    from nodes.lib.embedders import efficientnet, store

    events = []
    prepare, make_store = efficientnet.EfficientNetLite0.prepare, store.EmbeddingStore.__init__
    monkeypatch.setattr(efficientnet.EfficientNetLite0, "prepare",
                        lambda self: events.append("model") or prepare(self))
    monkeypatch.setattr(store.EmbeddingStore, "__init__",
                        lambda self, folder: events.append("store") or make_store(self, folder))
    engine = Engine(registry, cache)
    first = engine.run(embed_workflow(registry, photos_dir), out_dir=tmp_path / "a")
    assert len(first.output("embed", "embeddings").images) == 5
    assert events[:2] == ["model", "store"]
    events.clear()  # another batch size: Embed runs again, and finds every vector stored
    again = engine.run(embed_workflow(registry, photos_dir, batch_size=3), out_dir=tmp_path / "b")
    assert again.outcomes["embed"].state.value == "done" and events == ["store"]
    assert np.array_equal(again.output("embed", "embeddings").vectors, first.output("embed", "embeddings").vectors)


def test_workers_decode_in_turn_while_decoding_is_short_against_the_model(tmp_path):
    """Side-by-side workers decode one at a time while their decoding is short against a model
    run (small pictures, mostly Python under the GIL), and side by side where it is not (large
    photos, mostly C); a wait never outlasts a batch's decoding, and the vectors are the
    embedder's own."""
    import threading

    from nodes.embed import Turns
    from nodes.lib.embedders.classic import RawPixels

    rng = np.random.default_rng(0)
    paths = []
    for i in range(2):
        paths.append(str(tmp_path / f"p{i}.png"))
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(paths[-1])
    embedder = RawPixels(8, grayscale=True, binarize=False, threshold=128)
    expected = np.stack([embedder.preprocess(Image.open(p)) for p in paths])

    turns = Turns(workers=2)
    assert turns.wait() == 0.0  # nothing measured yet: no waiting
    vectors, errors = turns.embed(embedder, paths)
    assert np.array_equal(vectors, expected) and errors == ["", ""]
    assert turns.decoding > 0 and turns.model >= 0

    def embed_beside_another_decoding(decoding: float, model: float) -> bool:
        """Whether a worker decodes while another holds the turn (is decoding)."""
        turns.decoding, turns.model = decoding, model
        done = threading.Event()
        worker = threading.Thread(target=lambda: turns.embed(embedder, paths) and done.set())
        with turns.lock:  # another worker is decoding
            worker.start()
            went_on = done.wait(timeout=0.2)
        worker.join()
        return went_on

    assert not embed_beside_another_decoding(decoding=5.0, model=60.0)  # waited its turn
    assert embed_beside_another_decoding(decoding=30.0, model=20.0)  # long decoding: side by side
    assert embed_beside_another_decoding(decoding=20.0, model=60.0)  # not short enough to wait
    turns.decoding, turns.model = 0.05, 1.0
    with turns.lock:  # a worker that never lets go holds the others one batch's decoding, no more
        assert np.array_equal(turns.embed(embedder, paths)[0], expected)
        turns.after_decoding()  # the node's thread, waiting to keep a batch, likewise
