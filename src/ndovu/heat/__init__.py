"""OpenStack Heat resource plugins for ndovu: ``VirtualElephant::VMware::BDE`` and
``Ndovu::Cluster``.

The only part of ndovu that imports Heat. It is a client of ndovu's REST API (``/v1``) and
imports nothing else of ndovu, so the folder works on its own: point Heat's
``plugin_dirs`` at it, or install the package and drop a one-line loader file into a
plugin directory (docs/heat.md).

Heat loads a plugin folder's modules as ``heat.engine.plugins.<module>``, running each
before registering it in ``sys.modules``. Hence two rules here: modules import each other
only as ``from . import x`` (``from .x import y`` may load a second copy of ``x``), and
modules with dataclasses do without ``from __future__ import annotations``.
"""
