"""The process's start-up as the command line sees it: the collector paused until it is ready.

``scan`` and ``report`` call ``pause_collections`` before they load their application
modules and resume the collector when they freeze their start-up heap (the freeze is what
spares the walks). ``main`` calls ``resume_collections`` on its way out, for a command that
ends before it froze. The other commands never pause. ``scanner.edge.heap`` says why and
what it saves.
"""

from scanner.edge.heap import pause_collections, resume_collections

__all__ = ["pause_collections", "resume_collections"]
