"""Running Silico's processes on one machine: ports, process start/stop, readiness."""
