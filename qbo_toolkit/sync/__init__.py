"""The sync: id map, change detection, the pure planner, the engine, the activity log, progress events.

Entry points for notebooks, the CLI and papermill jobs are in :mod:`qbo_toolkit.sync.api`.
"""
