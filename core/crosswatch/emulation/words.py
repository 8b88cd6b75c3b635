"""Words the catalogue makes titles from (adjectives and nouns, title case)."""

_ADJECTIVES = """
Silent Broken Golden Hidden Last Lost Crimson Endless Burning Distant Frozen Hollow Iron
Midnight Northern Pale Quiet Restless Scarlet Secret Shattered Silver Sleeping Southern
Stolen Strange Sunken Twisted Velvet Wandering Wild Winter Wicked Bright Dark Early Final
First Fallen Forgotten Gentle Glass Grand Green Heavy High Little Long Lonely Lucky Mad
Narrow New Old Open Paper Perfect Proud Rapid Red Rough Royal Sacred Savage Second Seventh
Sharp Short Small Stone Sweet Third True Young
"""
_NOUNS = """
River Garden Harbor Empire Shadow Signal Voyage Witness Orchard Frontier Machine Kingdom
Promise Island Letter Mirror Horizon Station Circle Storm Forest Window Bridge Crown Desert
Engine Factory Falcon Fortune Ghost Glacier Hunter Journey Lantern Legacy Meadow Mountain
Ocean Palace Pilgrim Planet Prophet Rebel Reckoning Ritual Road Saint Season Sentinel Spark
Spring Stranger Summer Tide Tower Valley Village Voice Wanderer Warden Wolf Winter Archive
Anthem Atlas Border Canyon Carnival Citadel Comet Compass Covenant Cradle Current Dynasty
Echo Ember Exile Festival Harvest Haven Heart
"""

ADJECTIVES: tuple[str, ...] = tuple(_ADJECTIVES.split())
NOUNS: tuple[str, ...] = tuple(_NOUNS.split())
