"""Picture recipes from outside: other generators' metadata read into an ImageRequest (foreign.py). chatapp's own PNG recipe is png_recipe.py, to move here with the one recipe module (issue 22)."""
