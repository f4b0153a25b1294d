"""Write the pixel-classification ready workflows and the small label files they use.

    python scripts/make_pixel_workflows.py

- ``workflows/data/clashifier/masks/china.png``: strokes "drawn" over scikit-learn's
  china.jpg (a pagoda above a lake), one colour per land type, as a person would paint
  them in the canvas or a paint program. The legend is in clashifier_regions.json.
- ``workflows/data/colour_names/golden/``: real photos from scikit-image and scikit-learn
  (shrunk) with golden masks of their clearly named pixels, from
  :mod:`nodes.lib.pixels.colour_names` (the legend is its ``LEGEND``).

- ``workflows/clashifier_regions.json`` and ``workflows/colour_names.json``.

The output is deterministic; re-running rewrites the same files.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

DATA = Path(__file__).resolve().parent.parent / "workflows" / "data"
# (class colour, stroke width, polyline) in china.jpg's pixel coordinates (640 x 427).
CHINA_STROKES = [
    ("#aec7e8", 12, [(360, 20), (470, 40), (600, 25)]),       # sky, right of the pagoda
    ("#aec7e8", 12, [(380, 110), (520, 95), (620, 120)]),
    ("#aec7e8", 10, [(15, 30), (60, 70), (20, 110)]),          # sky, left of the pagoda
    ("#1f77b4", 10, [(360, 270), (450, 285), (540, 260)]),     # lake
    ("#1f77b4", 8, [(20, 290), (60, 280)]),
    ("#2ca02c", 12, [(580, 180), (610, 260), (590, 340)]),     # trees
    ("#2ca02c", 12, [(360, 380), (440, 360), (510, 400)]),
    ("#2ca02c", 10, [(10, 330), (30, 400), (80, 410)]),
    ("#d62728", 8, [(130, 200), (200, 215), (290, 200)]),      # pagoda
    ("#d62728", 8, [(110, 300), (200, 310), (320, 300)]),
    ("#d62728", 8, [(170, 90), (230, 95)]),
]
CHINA_LEGEND = "sky=#aec7e8, water=#1f77b4, trees=#2ca02c, building=#d62728"


def draw_mask(size: tuple[int, int], strokes) -> Image.Image:
    """Transparent everywhere except the strokes (drawn without anti-aliasing)."""
    mask = Image.new("RGBA", size, (0, 0, 0, 0))
    pen = ImageDraw.Draw(mask)
    for colour, width, points in strokes:
        pen.line(points, fill=colour, width=width, joint="curve")
    return mask


def china_mask() -> Path:
    from sklearn.datasets import load_sample_images

    china = next(p for p in load_sample_images().filenames if p.endswith("china.jpg"))
    with Image.open(china) as photo:
        size = photo.size
    target = DATA / "clashifier" / "masks" / "china.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    draw_mask(size, CHINA_STROKES).save(target, optimize=True)
    return target


def golden_set() -> Path:
    from nodes.lib.pixels.colour_names import write_golden_set

    target = DATA / "colour_names" / "golden"
    write_golden_set(target)
    return target


def build(name: str, description: str, nodes: list[tuple[str, str, dict, tuple[int, int]]],
          edges: list[tuple[str, str, str, str]]):
    """A workflow of (id, type, params, position) nodes, with defaults filled in."""
    from flowclass.library import default_registry
    from flowclass.workflow import Edge, PortRef, Workflow
    from flowclass.workflow_file import new_node, upgrade

    registry = default_registry()
    workflow = Workflow(name=name, description=description)
    for node_id, node_type, params, position in nodes:
        spec = new_node(workflow, registry.get(node_type), position, node_id)
        workflow = workflow.with_node(spec).with_params(node_id, **params)
    for source, out, target, into in edges:
        workflow = workflow.with_edge(Edge(PortRef(source, out), PortRef(target, into)))
    return upgrade(workflow, registry)


def clashifier_workflow():
    return build(
        "Clashifier: classify land types from painted regions",
        "Seed 000's Clashifier: strokes painted over an example photo (a mask PNG, one colour "
        "per land type) train a pixel classifier, which then colours every image by class and "
        "measures what percent of each picture is sky, water, trees or building. Runs on the "
        "built-in photos with the strokes in data/clashifier/masks; use your own with "
        "--set photos.folder=PHOTOS --set regions.masks=MASKS --set regions.legend='water=#0000ff, "
        "...'. Try --set train.model=nearest_centroid for Clashifier's plain colour distance.",
        [("photos", "import_images", {"sample": "photos"}, (0, 0)),
         ("regions", "pixel_samples_mask", {"masks": "data/clashifier/masks",
                                            "legend": CHINA_LEGEND}, (300, -150)),
         ("train", "train_pixel_classifier", {"model": "random_forest"}, (600, -150)),
         ("classify", "classify_pixels", {}, (900, 0)),
         ("save", "save_pixel_maps", {"folder": "clashifier", "side_by_side": True}, (1200, 0))],
        [("photos", "images", "regions", "images"), ("regions", "samples", "train", "samples"),
         ("train", "model", "classify", "model"), ("photos", "images", "classify", "images"),
         ("classify", "maps", "save", "maps")])


def colour_names_workflow():
    from nodes.lib.pixels.colour_names import LEGEND

    return build(
        "Colour names from weakly labelled images",
        "Seed 001: images in a folder per colour name (weak labels: every pixel is taken to be "
        "of its folder's colour) are denoised (each class keeps its main colours), sampled "
        "evenly per class, and a logistic regression learns colour names from RGB and CIELAB. "
        "It then names every pixel of a golden set of real photos, is scored against their "
        "golden masks, and saves each photo beside its classified version. Runs on the "
        "built-in colour_names sample set; use your own with --set weak.folder=FOLDERS "
        "--set golden.folder=IMAGES --set evaluate.masks=MASKS --set evaluate.legend=....",
        [("weak", "import_images", {"sample": "colour_names"}, (0, 0)),
         ("samples", "pixel_samples_folders", {}, (300, 0)),
         ("train", "train_pixel_classifier", {"model": "logistic_regression"}, (600, 0)),
         ("golden", "import_images", {"folder": "data/colour_names/golden/images",
                                      "labels_from": "none"}, (600, 250)),
         ("classify", "classify_pixels", {}, (900, 100)),
         ("evaluate", "evaluate_pixels", {"masks": "data/colour_names/golden/masks",
                                          "legend": LEGEND}, (1200, 0)),
         ("save", "save_pixel_maps", {"folder": "colour_names", "side_by_side": True},
          (1200, 250))],
        [("weak", "images", "samples", "images"), ("samples", "samples", "train", "samples"),
         ("train", "model", "classify", "model"), ("golden", "images", "classify", "images"),
         ("classify", "maps", "evaluate", "maps"), ("classify", "maps", "save", "maps")])


def main() -> None:
    from flowclass.workflow_file import save

    print(f"wrote {china_mask()}")
    print(f"wrote {golden_set()}")
    for name, workflow in (("clashifier_regions", clashifier_workflow()),
                           ("colour_names", colour_names_workflow())):
        target = DATA.parent / f"{name}.json"
        save(workflow, target)
        print(f"wrote {target}")


if __name__ == "__main__":
    main()
