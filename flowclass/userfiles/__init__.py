"""The user's files: pictures read the same way everywhere, folders written without harm.

``pictures`` opens images (the nodes and the canvas's thumbnails alike); ``owned_folder``
writes into a user's folder only over files FlowClass wrote there itself, as its
``journal`` records, one run at a time (``folder_lock``), under names that fit
(``file_names``).
"""
