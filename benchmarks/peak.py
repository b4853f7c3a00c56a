"""A process's own peak memory, for the benchmarks (each measured thing runs in a child of its own).

:func:`peak_rss` reads VmHWM, the high-water mark of this process's resident memory since it started.
``ru_maxrss`` is the fallback where there is no ``/proc``; on Linux it is not used, because a child's
``ru_maxrss`` starts from its parent's size at the fork (the benchmark process itself, large after
the no-op measure). :data:`PEAK_RSS` is the same function's source, for child scripts run with
``python -c``.
"""

from __future__ import annotations

import inspect

__all__ = ["PEAK_RSS", "peak_rss"]


def peak_rss() -> int:
    """This process's peak resident memory, in bytes."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


#: the source of :func:`peak_rss`, to paste into a child script
PEAK_RSS = inspect.getsource(peak_rss)
