"""Reading like a radiologist: a grid of viewports with linked scrolling, reference lines,
thick slabs, compare with prior and hanging protocols (the Qt side of
``medviewer.session.layout``, ``linking``, ``slab``, ``hanging`` and ``priors``).

area.py       ReadingArea: the grid, the active viewport, what each viewport shows
viewport.py   ViewportWidget: a PlaneView + tools on a ViewportSession, loaded on a worker
links.py      LinkController: linked slice / window / zoom-pan, reference lines, link here
menus.py      View menu entries, the slab controls, the viewport context menu
compare.py    compare with prior; protocols.py  save / apply hanging protocols
drop.py       series drag and drop (mime data, the drop filter, the browser's tree)
"""
