"""Reading capture files (pcap, pcapng, compressed, stdin) into the columnar packet table.

Imports nothing else of honeysift's, so every other stage can depend on it.
"""
