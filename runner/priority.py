"""CPU priority of the processes that play episodes: lowered, never raised, so that on a host that also serves
the dashboard people's pages come first (benchmark_site.celery, runner.host). Linux keeps a niceness per thread,
and threads and processes inherit their creator's."""

import ctypes
import logging
import os
import threading

log = logging.getLogger(__name__)


# prctl(2)'s PR_CAPBSET_DROP and capabilities(7)'s CAP_SYS_NICE.
_PR_CAPBSET_DROP = 24
_CAP_SYS_NICE = 23


def lower_priority(niceness: int, *, thread_only: bool = False) -> int:
    """Give every thread of this process (with ``thread_only``, the calling thread) the CPU priority
    ``niceness`` (never raising it), and with it every thread and process they start from now on (Linux keeps
    a niceness per thread and children inherit it). Returns the calling thread's niceness then.

    A process running as root may raise its priority again, and Chromium does: its browser process sets its
    display threads to -8 and its renderers to 0 or 5, above the web server's. So the calling thread also drops
    CAP_SYS_NICE from its capability bounding set, for itself and everything it starts from now on.
    """
    if not os.path.isdir("/proc/self/task"):  # not Linux: the niceness is the process's
        os.setpriority(os.PRIO_PROCESS, 0, max(niceness, os.getpriority(os.PRIO_PROCESS, 0)))
        return os.getpriority(os.PRIO_PROCESS, 0)
    me = threading.get_native_id()
    threads = [me] if thread_only else [int(name) for name in os.listdir("/proc/self/task")]
    for tid in threads:
        try:
            if os.getpriority(os.PRIO_PROCESS, tid) < niceness:
                os.setpriority(os.PRIO_PROCESS, tid, niceness)
        except ProcessLookupError:
            pass  # a thread that ended meanwhile
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_CAPBSET_DROP, _CAP_SYS_NICE, 0, 0, 0) != 0:
            log.warning(
                "could not drop CAP_SYS_NICE: %s; Chromium may raise its priority", os.strerror(ctypes.get_errno())
            )
    return os.getpriority(os.PRIO_PROCESS, me)
