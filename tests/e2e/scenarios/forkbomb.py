"""forkbomb.py: forks sleeping children as fast as it can, retrying when the pod's pids.max says no."""
import os
import time

while True:
    try:
        if os.fork() == 0:
            time.sleep(600)
            os._exit(0)
    except OSError:
        time.sleep(0.01)
