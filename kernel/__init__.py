"""The shared kernel: what every package may use (settings, the city clock, languages, templates, money); it imports
nothing of the project."""
