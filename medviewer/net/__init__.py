"""The hospital DICOM network (pynetdicom): nodes, verify, query, retrieve, send, receive.

Qt-free. pynetdicom is imported only when a node is used: with no node configured nothing
here opens a socket.
"""
