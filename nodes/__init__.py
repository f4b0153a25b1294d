"""FlowClass's node library: one module per family, each listing its node types in NODES.

``FAMILIES`` is the explicit list the default registry is built from; there is no import
magic. Plugin folders add more modules at run time (see ``flowclass.library.plugin_folders``
and ``Registry.add_plugin_folder``).
"""

FAMILIES = (
    "nodes.images",
    "nodes.embed",
    "nodes.distances",
    "nodes.clustering",
    "nodes.export",
    "nodes.labelling",
    "nodes.classify",
    "nodes.model_files",
    "nodes.zeroshot",
    "nodes.cleaning",
    "nodes.pixel_samples",
    "nodes.pixels",
    "nodes.pixel_export",
)
