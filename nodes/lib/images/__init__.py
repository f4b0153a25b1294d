"""Getting images in: the built-in sample images, and what is remembered about each file."""
