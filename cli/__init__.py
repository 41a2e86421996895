"""The command line and what only it uses: preflight checks, progress bars, the demo."""
