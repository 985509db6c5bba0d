"""Running the service the way a state runs its election system: health checks, the mirrored database's routing,
backups with restore drills, and the daily security report."""
