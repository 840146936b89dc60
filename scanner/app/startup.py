"""The process's start-up as the command line sees it: the collector paused until it is ready.

``pause_collections`` is the command line's first step. ``scan`` and ``report`` resume the
collector when they freeze their start-up heap; every other command calls
``resume_collections`` once its application module has loaded. ``scanner.edge.heap`` says
why and what it saves.
"""

from scanner.edge.heap import pause_collections, resume_collections

__all__ = ["pause_collections", "resume_collections"]
