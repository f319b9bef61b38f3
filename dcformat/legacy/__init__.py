"""The Deep Compression authors' released files: Caffe prototxt + ``.net`` binaries, converted losslessly.

``load_legacy(net, prototxt)`` decodes a ``.net`` file (PAPER.md §2.1) into
per-layer codebooks, positions and dense weights; ``caffe_graph`` turns the
prototxt into a dcformat Graph so the converted file can run.
"""

from .caffe import CaffeNet, parse_net
from .convert import LegacyModel, load_legacy
from .songhan import LegacyLayer, LegacySpec, legacy_specs, read_songhan

__all__ = ["parse_net", "CaffeNet", "load_legacy", "LegacyModel", "read_songhan", "legacy_specs", "LegacySpec", "LegacyLayer"]
