"""AudioGenX per mode on the bundled model (issue 18), one command each:

    .venv/bin/python benchmarks/bench_faithfulness.py table1 [--start 0] [--count 20] [--epochs 50] [--samples 5]
    .venv/bin/python benchmarks/bench_faithfulness.py heldout-cache --part dev|test|test2|test3|test4|test5|test6|test7  (slow)
    .venv/bin/python benchmarks/bench_faithfulness.py heldout --part all --write [--misses]

``table1``: Table 1 (Fid/KL factual and counterfactual, size) on held-out captions of the bundled
world (``protocol.write_heldout_world_captions``: absent from the training captions) for the modes
quick, paper and reference-code (its Gumbel-sampled mask and p from ONE training) and BOTH KL
directions read from the same samples: same take, explanation seed and sampling seed for every row,
one batched sampling call per caption. One JSON line per caption in results/table1_modes.jsonl, so
a stopped run resumes and ``--start/--count`` run it in parts; ~60-75 s per caption on 2 cores.

``heldout-cache`` / ``heldout``: does the explanation name the event? Captions of the bundled world
written here in forms the training templates never use (other connectives, word orders, carrier
phrases, punctuation, synonyms). Each caption's take and explanations (default mode quick; ``#first``
/ ``#second``: the focus variant per half) are cached once in tmp/heldout_cache; ``heldout`` then
scores every view (:data:`VIEWS`: the paper's ranking, content words, sound words, the interval
contrast, focus) in seconds. ``dev`` was used to choose; ``test`` scored once at the end; ``test2`` (written
after the WordNet context rule was chosen, before it was generated) scored once after that; ``test3``
(written after the request-word clause was decided on dev, committed before it was generated) once
after that; ``test4`` (written after the round-4 rules were committed: contractions, request frame,
media words, purpose phrases; committed before it was generated) once after that; ``test5`` (written
after the round-5 rules were committed: informal contractions, interjections opening a prompt;
committed before it was generated) once after that; ``test6`` (written after the HEARD columns were
committed, with no word-kind rule changed since test5; committed before it was generated) once after
that; ``test7`` (written after round 7's share-form contrast was committed; committed before it was
generated) once after that. Scoring: strict
(the event's own words, :func:`own_words`) first; "phrase words count"
(:func:`phrase_words`: any content word of the phrase the caption used for the event, "smoke" of "a
smoke alarm beeping", a word of the event's name) next to it, for halves and, from test3 on, singles
too (decided before test3 was generated).
``--seeds 3`` (explanation seeds 0-2 averaged; ``--modes quick@1,quick@2`` cached): on dev it changed
nothing for sound+contrast (56/56, 49/62 as with one seed) and cost 3x the explanation time, so it
was NOT chosen (decided on dev, 2026-12-03 00:38 UTC, before test2 was scored).

Results: benchmarks/results/table1_modes.{jsonl,md}, benchmarks/results/heldout_words.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import typing as tp
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
MODES = {  # row name -> AudioGenX settings
    "quick": {"mode": "quick"},
    "fast": {"mode": "fast"},
    "paper": {"mode": "paper"},
    "reference-code": {"mode": "reference-code"},  # mask_used = sample (its default)
    "reference-code (p)": {"mode": "reference-code", "mask_used": "p"},
}

# ----------------------------------------------------------------------------- held-out phrasings

#: event -> gerund phrases ("a dog barking"), clause phrases ("a dog barks") and the words beyond the
#: world's own (``world.EVENTS[..].words``) that name it: synonyms and nouns the templates never use.
#: Written for this benchmark; none of the phrases below is a training caption's phrase word for word.
EVENT_PHRASES: dict[str, tuple[list[str], list[str], set[str]]] = {
    "dog": (["a dog barking", "the puppy yapping", "a hound barking", "my neighbour's dog barking"],
            ["a dog barks", "the puppy yaps", "a hound bays", "the dogs bark"], {"hound", "bays", "dogs", "bark", "yapping"}),
    "bell": (["a bell ringing", "the church bell chiming", "a handbell ringing", "bells tolling"],
             ["a bell rings", "the church bell chimes", "bells toll", "a bell dings"], {"handbell", "bells", "dings",
                                                                                     "chiming", "tolling", "toll"}),
    "siren": (["a siren wailing", "an ambulance siren blaring", "the fire engine siren howling"],
              ["a siren wails", "the ambulance siren blares", "sirens scream"], {"sirens", "scream", "blaring", "howling"}),
    "rain": (["rain falling", "a downpour pattering", "rain drumming"],
             ["rain falls", "a downpour pours down", "the rain drums"], {"downpour", "drizzle", "drumming", "drums",
                                                                         "pattering", "pour"}),
    "thunder": (["thunder rumbling", "a thunderstorm raging", "thunder cracking"],
                ["thunder rumbles", "a thunderstorm rages", "thunder cracks"], {"storm", "raging", "rages",
                                                                                "cracking", "cracks"}),
    "bird": (["a bird chirping", "a songbird singing", "sparrows twittering"],
             ["a bird chirps", "the songbird sings", "sparrows twitter"], {"birdsong", "sparrows", "twitter",
                                                                            "twittering", "singing"}),
    "clock": (["a clock ticking", "the old wall clock ticking", "a grandfather clock tick-tocking"],
              ["a clock ticks", "the old wall clock ticks", "a grandfather clock tick-tocks"],
              {"tock", "tick-tock", "tick-tocks", "tick-tocking"}),
    "engine": (["an engine idling", "a car motor humming", "a diesel engine running"],
               ["an engine idles", "a car motor hums", "the diesel engine runs"], {"idle", "idles", "motor", "diesel",
                                                                                 "humming", "running"}),
    "whistle": (["a whistle shrilling", "the referee's whistle blowing", "someone whistling a tune"],
                ["a whistle shrills", "the referee blows his whistle", "someone whistles a tune"],
                {"referee's", "shrill", "shrills", "shrilling", "blows", "blowing"}),
    "wind": (["wind howling", "a gusty wind blowing", "a breeze rustling"],
             ["the wind howls", "a gusty wind blows", "a breeze rustles"], {"breeze", "gust", "rustling", "rustles",
                                                                           "howling", "gusty"}),
    "beep": (["a microwave beeping", "an alarm beeping", "a timer beeping"],
             ["the microwave beeps", "an alarm goes off", "a timer beeps"], {"microwave", "timer"}),
    "knock": (["someone knocking at the door", "a visitor knocking", "knocks at the front door"],
              ["someone knocks at the door", "a visitor raps on the door", "there's a knock at the door"],
              {"raps"}),
    "footsteps": (["footsteps approaching", "a woman walking on gravel", "someone pacing"],
                  ["footsteps approach", "a man walks on gravel", "someone paces"], {"footstep", "approach",
                                                                                  "approaching", "pacing", "paces"}),
}

#: test2 (issue 18, written 2026-12-03 before any of it was generated or scored, after the WordNet
#: context rule was chosen on dev): new phrases per event, with synonyms the other parts never use and
#: typos as people type them; the third set = the words beyond the world's own that name the event
#: (the misspelt ones too: a typo still names the event the user meant).
TEST2_PHRASES: dict[str, tuple[list[str], list[str], set[str]]] = {
    "dog": (["a dog woofing", "a big dog barkin", "the terrier barking"],
            ["a dog woofs", "the terrier barks", "a dog barkss"], {"woofing", "woofs", "terrier", "barkin", "barkss"}),
    "bell": (["church bells pealing", "a bell clanging", "the bels ringing"],
             ["the bells peal", "a bell clangs", "a church bell rigns"], {"bells", "pealing", "peal", "clanging",
                                                                        "clangs", "bels", "rigns"}),
    "siren": (["an emergency siren going off", "a sirne wailing", "a cop car siren whooping"],
              ["an emergency siren goes off", "the cop siren whoops", "a siren wales"],
              {"sirne", "cop", "whooping", "whoops", "wales"}),
    "rain": (["heavy rain coming down", "a rainstorm pouring", "rian falling"],
             ["it is raining hard", "a rainstorm pours", "rian falls"], {"rainstorm", "raining", "rian", "pouring"}),
    "thunder": (["thunder booming", "a storm grumbling", "thuner rolling"],
                ["thunder booms", "thunder rolls in", "the storm grumbles"],
                {"booming", "booms", "storm", "grumbling", "grumbles", "thuner", "rolling", "rolls"}),
    "bird": (["birds tweeting", "a robin singing", "a little bird chirpping"],
             ["the birds tweet", "a robin sings", "a brid chirps"], {"birds", "tweeting", "tweet", "robin", "singing",
                                                                    "chirpping", "brid"}),
    "clock": (["an old clock ticking away", "a cuckoo clock ticking", "the clcok ticking"],
              ["a cuckoo clock ticks", "the kitchen clock ticks away", "a clock tiks"], {"cuckoo", "clcok", "tiks"}),
    "engine": (["a truck engine rumbling", "a motorbike idling", "an enigne running"],
               ["a truck engine rumbles", "the motorbike idles", "an engin hums"],
               {"truck", "motorbike", "enigne", "engin", "rumbling", "rumbles", "idles"}),
    "whistle": (["a coach blowing a whistle", "a train whistle tooting", "someone whisling"],
                ["the coach blows a whistle", "a train whistle toots", "a whisle shrieks"],
                {"tooting", "toots", "whisling", "whisle", "shrieks", "blowing", "blows"}),
    "wind": (["strong wind gusting", "the wind whooshing", "a windstorm roaring"],
             ["the wind gusts", "wind whooshes through the trees", "the wnid howls"],
             {"gusting", "gusts", "whooshing", "whooshes", "windstorm", "roaring", "wnid", "howls"}),
    "beep": (["a smoke alarm beeping", "a phone beeping", "an oven timer bleeping"],
             ["the smoke alarm beeps", "the oven timer bleeps", "a pager beeeps"],
             {"bleeping", "bleeps", "timer", "beeeps", "pager"}),
    "knock": (["someone banging on the door", "a neighbour tapping at the door", "knocking on teh door"],
              ["someone bangs on the door", "a neighbour taps at the door", "someone knoks"],
              {"banging", "bangs", "tapping", "taps", "knoks"}),
    "footsteps": (["heavy footsteps on the stairs", "a person tiptoeing", "someone stomping around"],
                  ["someone walks down the hall", "a person stomps around", "footstpes echo on the floor"],
                  {"stomping", "stomps", "tiptoeing", "footstpes", "walks"}),
}

#: test3 (issue 18, written 2026-12-03 ~04:00 UTC after the request-word clause of the context rule was
#: decided on dev and before any of it was generated or scored): new phrases per event with synonyms
#: and typos none of dev/test/test2 use; the third set = the words beyond the world's own that name the
#: event (misspellings too).
TEST3_PHRASES: dict[str, tuple[list[str], list[str], set[str]]] = {
    "dog": (["a poodle yipping", "an angry dog snarling", "a doggo barking"],
            ["the poodle yips", "a dog growls", "the doggy barks"],
            {"poodle", "yipping", "yips", "snarling", "growls", "doggo", "doggy"}),
    "bell": (["a school bell ringing", "a doorbell chiming", "a bell rining"],
             ["the school bell rings", "a doorbell chimes", "the bell dongs"],
             {"doorbell", "chiming", "rining", "dongs"}),
    "siren": (["an air raid siren droning", "a siren blasting", "a fire truck siren wailing"],
              ["the air raid siren drones", "a siren blasts", "the sirene wails"],
              {"droning", "drones", "blasting", "blasts", "sirene"}),
    "rain": (["rain pattering on the roof", "light rain sprinkling", "raain falling"],
             ["rain patters on the roof", "it drizzles", "the rain comes down"],
             {"pattering", "sprinkling", "drizzles", "raain"}),
    "thunder": (["a thunderclap", "thunder crashing", "thundr rumbling"],
                ["thunder claps", "thunder crashes overhead", "the thundr rumbles"],
                {"thunderclap", "claps", "crashing", "thundr"}),
    "bird": (["a blackbird singing", "pigeons cooing", "a birb chirping"],
             ["a blackbird sings", "pigeons coo", "a bird warbles"],
             {"blackbird", "singing", "pigeons", "cooing", "coo", "warbles", "birb"}),
    "clock": (["a pocket watch ticking", "a clock tickin", "a clok ticking"],
              ["the pocket watch ticks", "a clock goes tick tock", "teh clock ticks"],
              {"watch", "tickin", "clok", "tock"}),
    "engine": (["an engine revving", "a car idling", "an engien running"],
               ["the engine revs", "a car idles outside", "the motor purrs"],
               {"revving", "revs", "idles", "engien", "running", "purrs"}),
    "whistle": (["a tin whistle trilling", "a whistle being blown", "a wistle blowing"],
                ["a whistle trills", "the lifeguard blows a whistle", "someone whistles loudly"],
                {"trilling", "trills", "blown", "wistle", "blowing", "blows"}),
    "wind": (["a strong gale blowing", "wind moaning", "a windy gust"],
             ["the gale blows", "wind moans outside", "the wind blows hard"],
             {"gale", "moaning", "moans", "windy", "gust"}),
    "beep": (["a heart monitor beeping", "a beeper going off", "a microwave bleeping"],
             ["the heart monitor beeps", "a beeper goes off", "a microwave beps"],
             {"microwave", "bleeping", "beps"}),
    "knock": (["a fist pounding on a door", "someone rapping on the door", "a guest knocking twice"],
              ["someone pounds on the door", "a guest knocks twice", "somebody knocs"],
              {"pounding", "pounds", "rapping", "knocs"}),
    "footsteps": (["boots crunching through snow", "high heels clicking on tiles", "a person shuffling"],
                  ["heels click on the tiles", "a person shuffles along", "foot steps thud on wood"],
                  {"crunching", "clicking", "click", "heels", "shuffling", "shuffles", "foot", "thud"}),
}
#: test4 (issue 18, written 2026-12-03 ~04:20 UTC after the round-4 rules of word_kinds were committed
#: (contractions, request frame, media words, purpose phrases) and before any of it was generated or
#: scored): new phrases per event with synonyms and typos none of dev/test/test2/test3 use; the third
#: set = the words beyond the world's own that name the event (misspellings too).
TEST4_PHRASES: dict[str, tuple[list[str], list[str], set[str]]] = {
    "dog": (["a dog whining", "a pup whimpering", "a german shepherd barking", "a dgo barking"],
            ["a dog whines", "the pup whimpers", "a german shepherd barks"],
            {"whining", "whines", "pup", "whimpering", "whimpers", "shepherd", "dgo"}),
    "bell": (["a bicycle bell ringing", "a sleigh bell jingling", "a bell tinkling", "a bel ringing"],
             ["a bicycle bell rings", "sleigh bells jingle", "a bell tinkles"],
             {"jingling", "jingle", "tinkling", "tinkles", "bel", "bells"}),
    "siren": (["a tornado siren whirring", "a squad car siren yelping", "a sirren wailing"],
              ["a tornado siren whirs", "the squad car siren yelps", "a siren wails nonstop"],
              {"whirring", "whirs", "yelping", "yelps", "sirren"}),
    "rain": (["rain hitting the window", "a rain shower", "rainn falling"],
             ["rain hits the window", "it's pouring", "rain splashes on the pavement"],
             {"shower", "hitting", "hits", "rainn", "pouring", "splashes"}),
    "thunder": (["distant thunder growling", "a lightning storm", "thudner booming"],
                ["thunder growls", "a lightning storm rolls in", "thunder echoes across the valley"],
                {"growling", "growls", "lightning", "storm", "thudner", "booming", "rolls", "echoes"}),
    "bird": (["a crow cawing", "seagulls squawking", "a brd chirping"],
             ["a crow caws", "seagulls squawk", "an owl hoots"],
             {"crow", "cawing", "caws", "seagulls", "squawking", "squawk", "owl", "hoots", "brd"}),
    "clock": (["a mantel clock ticking", "a wristwatch ticking", "a clokc ticking"],
              ["the mantel clock ticks", "a wristwatch ticks", "the clock keeps ticking"],
              {"wristwatch", "clokc"}),
    "engine": (["a generator humming", "a tractor engine chugging", "an engnie idling"],
               ["a generator hums", "a tractor engine chugs", "the car starts up"],
               {"generator", "tractor", "chugging", "chugs", "engnie"}),
    "whistle": (["a kettle whistling", "a steam train whistle", "a whisstle piping"],
                ["the kettle whistles", "a steam whistle blasts", "a guard blows a whistle"],
                {"kettle", "whisstle", "piping", "blasts", "blows"}),
    "wind": (["a cold wind sighing", "wind buffeting the tent", "wnd blowing"],
             ["the wind sighs", "wind buffets the tent", "a blustery wind picks up"],
             {"sighing", "sighs", "buffeting", "buffets", "wnd", "blustery"}),
    "beep": (["a scanner beeping", "a pedestrian crossing beeping", "an alarm beepin"],
             ["the scanner beeps", "the crossing signal beeps", "a bleep repeats"],
             {"scanner", "beepin", "bleep"}),
    "knock": (["someone knocking on wood", "a knuckle rapping on glass", "knockign at the door"],
              ["somebody knocks on the window", "a fist thumps the door", "someone knocks three times"],
              {"knuckle", "rapping", "knockign", "thumps"}),
    "footsteps": (["a man jogging", "sneakers squeaking on a gym floor", "foosteps in a corridor"],
                  ["a man jogs past", "sneakers squeak on the floor", "a woman walks briskly"],
                  {"jogging", "jogs", "sneakers", "squeaking", "squeak", "foosteps"}),
}
#: test5 (issue 18, written 2026-12-03 ~06:20 UTC after the round-5 word-kind rules were committed
#: (d69a268: informal contractions, interjections opening a prompt) and before any of it was generated or
#: scored): new phrases per event with synonyms, slang and typos none of dev/test/test2/test3/test4 use; the
#: third set = the words beyond the world's own that name the event (misspellings too).
TEST5_PHRASES: dict[str, tuple[list[str], list[str], set[str]]] = {
    "dog": (["a beagle baying", "a chihuahua yapping", "a dawg barking", "a dog barkng"],
            ["the beagle bays", "a chihuahua yaps", "the watchdog barks", "a dogg barks"],
            {"beagle", "baying", "chihuahua", "yapping", "dawg", "barkng", "watchdog", "dogg"}),
    "bell": (["a cowbell clanking", "a temple bell dinging", "a hand bell jangling", "a bell rnging"],
             ["the cowbell clanks", "a temple bell dings", "the belll rings"],
             {"cowbell", "clanking", "clanks", "dinging", "jangling", "rnging", "belll"}),
    "siren": (["a siren screeching", "a klaxon blaring", "a syren wailing", "a siren warbling"],
              ["a siren screeches", "the klaxon blares", "a syren wails"],
              {"screeching", "screeches", "klaxon", "syren", "warbling"}),
    "rain": (["rain dripping from the gutters", "a cloudburst drenching everything", "rainfal pattering",
              "rain drippin"],
             ["rain drips from the gutters", "a cloudburst drenches the street", "the rain lashes the windows"],
             {"dripping", "drips", "cloudburst", "drenching", "drenches", "rainfal", "drippin", "lashes"}),
    "thunder": (["a thunderstorm brewing", "thunder reverberating", "thundder rumbling", "a storm thundering"],
                ["thunder reverberates", "the storm thunders", "thundder roars in the hills"],
                {"reverberating", "reverberates", "thundder", "thundering", "thunders", "storm"}),
    "bird": (["a wren chittering", "a canary singing", "a burd chirping", "a flock of starlings chattering"],
             ["the wren chitters", "a canary sings", "starlings chatter in the hedge", "a burd tweets"],
             {"wren", "chittering", "chitters", "canary", "singing", "burd", "starlings", "chattering", "chatter",
              "flock"}),
    "clock": (["a stopwatch ticking", "a timepiece ticking", "a cloock ticking", "a clock tick-tacking"],
              ["a stopwatch ticks", "the timepiece ticks steadily", "the cloock ticks", "a clock goes tik tok"],
              {"stopwatch", "timepiece", "cloock", "tick-tacking", "tik", "tok"}),
    "engine": (["a lawnmower running", "a moped puttering", "an outboard motor purring", "an egine sputtering"],
               ["a lawnmower runs", "the moped putters along", "the egine sputters"],
               {"lawnmower", "moped", "puttering", "putters", "outboard", "purring", "egine", "sputtering",
                "sputters"}),
    "whistle": (["a slide whistle swooping", "a penny whistle tootling", "a whistel blowing", "someone wolf-whistling"],
                ["a slide whistle swoops", "a pennywhistle tootles", "someone wolf-whistles", "the ref blows the whistle"],
                {"swooping", "swoops", "tootling", "tootles", "pennywhistle", "whistel", "wolf-whistling",
                 "wolf-whistles", "ref", "blowing", "blows"}),
    "wind": (["wind rushing through the leaves", "wind whipping across the field", "a squall swirling", "wiind blowing"],
             ["wind rushes through the leaves", "the wind whips across the field", "a squall kicks up",
              "the wiind blows"],
             {"rushing", "rushes", "whipping", "whips", "squall", "swirling", "wiind"}),
    "beep": (["a keypad beeping", "a dishwasher beeping", "an alarm beepping", "a pulse oximeter pinging"],
             ["the keypad beeps", "the dishwasher beeps three times", "an alarm beepps", "a pinging noise repeats"],
             {"keypad", "dishwasher", "beepping", "beepps", "oximeter", "pinging"}),
    "knock": (["someone hammering on the door", "a polite double knock", "a heavy knock at the gate",
               "someone knoccking"],
              ["someone hammers on the door", "a knock comes at the gate", "somebody knoccks twice",
               "the door knocker clatters"],
              {"hammering", "hammers", "knoccking", "knoccks", "knocker"}),
    "footsteps": (["someone tramping through mud", "soldiers marching", "a person strolling on a boardwalk",
                   "fotsteps on creaky floorboards"],
                  ["someone tramps through the mud", "soldiers march past", "a hiker trudges uphill",
                   "fotsteps creak on the floorboards"],
                  {"tramping", "tramps", "marching", "march", "strolling", "trudges", "fotsteps"}),
}
#: test6 (issue 18, written 2026-12-03 ~12:15 UTC, after the HEARD columns were committed (2488381) and with
#: no word-kind rule changed since test5; committed before any of it was generated or scored): new phrases
#: per event, words none of dev/test/test2/test3/test4/test5 use where English allows (sources, verbs,
#: misspellings); the third set = the words beyond the world's own that name the event.
TEST6_PHRASES: dict[str, tuple[list[str], list[str], set[str]]] = {
    "dog": (["a mutt arfing", "a sheepdog yowling", "a pooch going woof", "a doog barking"],
            ["the mutt arfs", "a sheepdog yowls", "the pooch goes woof woof", "a doog barks"],
            {"mutt", "arfing", "arfs", "sheepdog", "yowling", "yowls", "pooch", "woof", "doog"}),
    "bell": (["a carillon playing", "a tubular bell resonating", "a dinner bell clinking", "a belle ringin"],
             ["the carillon plays", "a tubular bell resonates", "the dinner bell clinks", "a belle rings"],
             {"carillon", "playing", "plays", "resonating", "resonates", "clinking", "clinks", "belle", "ringin"}),
    "siren": (["a siren ululating", "a siren wee-wooing", "a sirin wailing", "a civil defence siren keening"],
              ["a siren ululates", "the siren goes wee-woo", "a sirin wails", "the civil defence siren keens"],
              {"ululating", "ululates", "wee-wooing", "wee-woo", "sirin", "keening", "keens"}),
    "rain": (["rain pelting the skylight", "a monsoon bucketing down", "rain spattering on a tarp", "rein falling"],
             ["rain pelts the skylight", "the monsoon buckets down", "rain spatters on the tarp", "the rein falls"],
             {"pelting", "pelts", "monsoon", "bucketing", "buckets", "spattering", "spatters", "rein"}),
    "thunder": (["thunder detonating", "a thunderbolt splitting the sky", "a tempest bellowing", "thunnder rolling"],
                ["thunder detonates", "a thunderbolt splits the sky", "the tempest bellows", "thunnder rolls"],
                {"detonating", "detonates", "thunderbolt", "splitting", "splits", "tempest", "bellowing", "bellows",
                 "thunnder", "rolling", "rolls"}),
    "bird": (["a nightingale serenading", "a parakeet peeping", "a thrush caroling", "a bidr chirping"],
             ["a nightingale serenades", "the parakeet peeps", "a thrush carols at dawn", "a bidr chirps"],
             {"nightingale", "serenading", "serenades", "parakeet", "peeping", "peeps", "thrush", "caroling",
              "carols", "bidr"}),
    "clock": (["a metronome tocking", "a pendulum clock tocking", "a chronometer ticking", "a clokk ticking"],
              ["the metronome tocks", "a pendulum clock tocks away", "the chronometer ticks", "a clokk ticks"],
              {"metronome", "tocking", "tocks", "pendulum", "chronometer", "clokk"}),
    "engine": (["a chainsaw buzzing", "a bulldozer grinding", "a jetski motor thrumming", "an enjin humming"],
               ["a chainsaw buzzes", "the bulldozer grinds along", "the jetski motor thrums", "an enjin hums"],
               {"chainsaw", "buzzing", "buzzes", "bulldozer", "grinding", "grinds", "jetski", "thrumming", "thrums",
                "enjin", "humming"}),
    "whistle": (["an umpire's whistle piercing the air", "someone whistling through their teeth", "a whislte going off",
                 "a pea whistle fluting"],
                ["the umpire's whistle pierces the air", "someone whistles through their teeth", "a whislte goes off",
                 "a pea whistle flutes"],
                {"umpire's", "piercing", "pierces", "whislte", "fluting", "flutes"}),
    "wind": (["wind soughing through the pines", "a typhoon battering the coast", "a zephyr stirring", "windd whooshing"],
             ["wind soughs through the pines", "the typhoon batters the coast", "a zephyr stirs", "the windd whooshes"],
             {"soughing", "soughs", "typhoon", "battering", "batters", "zephyr", "stirring", "stirs", "windd",
              "whooshing", "whooshes"}),
    "beep": (["a card reader blipping", "a cash register beeping", "a reversing forklift beeping", "a timer beebing"],
             ["the card reader blips", "a cash register beeps", "a reversing forklift beeps", "the timer beebs"],
             {"blipping", "blips", "reader", "register", "forklift", "beebing", "beebs"}),
    "knock": (["a rat-a-tat at the front door", "a caller knocking", "a konck at the door", "someone whacking the door"],
              ["someone whacks the door", "a caller knocks", "there's a konck at the door",
               "a rat-a-tat comes from the door"],
              {"rat-a-tat", "caller", "konck", "whacking", "whacks"}),
    "footsteps": (["someone sauntering down a hallway", "a jogger padding along", "feet scuffing the tarmac",
                   "footstepps echoing"],
                  ["someone saunters down the hallway", "a jogger pads along", "feet scuff the tarmac",
                   "footstepps echo in the hall"],
                  {"sauntering", "saunters", "jogger", "padding", "pads", "feet", "scuffing", "scuff", "footstepps"}),
}
#: test7 (issue 18, written 2026-12-03 ~14:00 UTC, after round 7's share-form contrast was committed (cbb242f),
#: with no word-kind rule changed since test5; committed before any of it was generated or scored): new
#: phrases per event, words none of dev..test6 use where English allows (sources, verbs, misspellings); the
#: third set = the words beyond the world's own that name the event.
TEST7_PHRASES: dict[str, tuple[list[str], list[str], set[str]]] = {
    "dog": (["a rottweiler snapping", "a spaniel yammering", "a guard dog going ruff ruff", "a dogy barkinng"],
            ["the rottweiler snaps", "a spaniel yammers", "the guard dog goes ruff ruff", "a dogy barkks"],
            {"rottweiler", "snapping", "snaps", "spaniel", "yammering", "yammers", "ruff", "dogy", "barkinng",
             "barkks"}),
    "bell": (["a bicycle bell brringing", "sleigh bells shaking", "a temple bell bonging", "a bll ringing"],
             ["a bicycle bell brrings", "the sleigh bells shake", "a temple bell bongs", "the bll rings"],
             {"brringing", "brrings", "sleigh", "bells", "shaking", "shake", "bonging", "bongs", "bll"}),
    "siren": (["a siren hee-hawing", "an air-raid siren oscillating", "a patrol car siren caterwauling",
               "a sien wailing"],
              ["the siren hee-haws", "an air-raid siren oscillates", "the patrol car siren caterwauls", "a sien wails"],
              {"hee-hawing", "hee-haws", "air-raid", "oscillating", "oscillates", "caterwauling", "caterwauls",
               "sien"}),
    "rain": (["rain plinking on a tin roof", "a deluge soaking the yard", "rain trickling down the gutter",
              "rrain falling"],
             ["rain plinks on the tin roof", "a deluge soaks the yard", "rain trickles down the gutter",
              "the rrain falls"],
             {"plinking", "plinks", "deluge", "soaking", "soaks", "trickling", "trickles", "rrain"}),
    "thunder": (["thunder muttering far away", "thunder walloping the valley", "a thunderstorm brewing overhead",
                 "thundre crackling"],
                ["thunder mutters far away", "thunder wallops the valley", "a thunderstorm brews overhead",
                 "thundre crackles"],
                {"muttering", "mutters", "walloping", "wallops", "brewing", "brews", "thundre", "crackling",
                 "crackles"}),
    "bird": (["a finch chirruping", "a kookaburra cackling", "a mockingbird mimicking", "a bierd chirping"],
             ["a finch chirrups", "the kookaburra cackles", "a mockingbird mimics", "a bierd chirps"],
             {"finch", "chirruping", "chirrups", "kookaburra", "cackling", "cackles", "mockingbird", "mimicking",
              "mimics", "bierd"}),
    "clock": (["a mantel clock ticking", "a grandfather clock ticktocking", "a time bomb ticking", "a clock tickng"],
              ["the mantel clock ticks", "a grandfather clock ticktocks", "a time bomb ticks", "a clock tickss"],
              {"mantel", "grandfather", "ticktocking", "ticktocks", "bomb", "tickng", "tickss"}),
    "engine": (["a lorry clattering past", "a go-kart zooming around", "a cement mixer churning", "an enginee idling"],
               ["a lorry clatters past", "the go-kart zooms around", "a cement mixer churns", "the enginee idles"],
               {"lorry", "clattering", "clatters", "go-kart", "zooming", "zooms", "cement", "mixer", "churning",
                "churns", "enginee"}),
    "whistle": (["a train whistle hooting", "a tin whistle tweedling", "a slide whistle glissading",
                 "a whitsle pipping"],
                ["the train whistle hoots", "a tin whistle tweedles", "the slide whistle glissades", "a whitsle pips"],
                {"hooting", "hoots", "tweedling", "tweedles", "glissading", "glissades", "whitsle", "pipping",
                 "pips"}),
    "wind": (["a sirocco sweeping the desert", "a nor'easter pummeling the dunes", "a draught hissing through the crack",
              "winnd whirling"],
             ["a sirocco sweeps the desert", "the nor'easter pummels the dunes", "a draught hisses through the crack",
              "the winnd whirls"],
             {"sirocco", "sweeping", "sweeps", "nor'easter", "pummeling", "pummels", "draught", "hissing", "hisses",
              "winnd", "whirling", "whirls"}),
    "beep": (["a parking sensor bleating", "a heart monitor booping", "a walkie-talkie bipping", "a thermostat beaping"],
             ["the parking sensor bleats", "a heart monitor boops", "the walkie-talkie bips", "a thermostat beaps"],
             {"sensor", "bleating", "bleats", "monitor", "booping", "boops", "walkie-talkie", "bipping", "bips",
              "thermostat", "beaping", "beaps"}),
    "knock": (["a fist bashing the door", "a neighbour clobbering the wall", "a postman tap-tapping at the door",
               "a knocck at the door"],
              ["a fist bashes the door", "the neighbour clobbers the wall", "the postman tap-taps at the door",
               "there's a knocck at the door"],
              {"fist", "bashing", "bashes", "clobbering", "clobbers", "tap-tapping", "tap-taps", "knocck"}),
    "footsteps": (["boots clomping down the stairs", "a sprinter dashing across gravel", "a toddler pitter-pattering",
                   "footsetps going by"],
                  ["boots clomp down the stairs", "a sprinter dashes across gravel", "the toddler pitter-patters",
                   "footsetps go by"],
                  {"boots", "clomping", "clomp", "sprinter", "dashing", "dashes", "toddler", "pitter-pattering",
                   "pitter-patters", "footsetps"}),
}
#: the phrase set of each part (dev and test share EVENT_PHRASES)
PART_PHRASES = {"dev": EVENT_PHRASES, "test": EVENT_PHRASES, "test2": TEST2_PHRASES, "test3": TEST3_PHRASES,
                "test4": TEST4_PHRASES, "test5": TEST5_PHRASES, "test6": TEST6_PHRASES, "test7": TEST7_PHRASES}
PART_RNG = {"dev": 18, "test": 1818, "test2": 181818, "test3": 18181818, "test4": 4_040_418, "test5": 5_050_518,
            "test6": 6_060_618, "test7": 7_070_718}
PART_SEED_OFFSET = {"dev": 0, "test": 10_000, "test2": 20_000, "test3": 30_000, "test4": 40_000, "test5": 50_000,
                    "test6": 60_000, "test7": 70_000}

#: single-event forms ({g} gerund phrase, {c} clause, {G}/{C} capitalised). dev: the forms of the first
#: run (seen) and more written with them; test: written at the same time, run once at the end.
SINGLE_FORMS = {
    "dev": ["the sound of {g}", "you can hear {g}!", "{c} -- nothing else", "listen: {g}", "somewhere far off, {c}.",
            "recording of {g}, outdoors", "{G}, on and on", "just {g}...", "{C} in the distance", "there is {g} nearby",
            "close-up of {g}", "field recording - {g}", "{C} again and again", "I hear {g}"],
    "test": ["a short clip where {c}", "{G} in a quiet room", "audio of {g}; no voices", "{C}, loud and clear",
             "we recorded {g} last night", "only {g} here"],
    # test2: written with TEST2_PHRASES, before any of it was generated ({U}: the gerund phrase in capitals)
    "test2": ["{G} (recorded on my phone)", "what's that?? {c}", "{g} for about ten seconds", "{U}!!",
              "pls make {g}", "late at night {c}", "{C}, very faintly", "out on the street, {c}",
              "ambience - {g}, slightly muffled", "i want {g} in my video"],
    # test3: written with TEST3_PHRASES, before any of it was generated: requests, questions, lists,
    # emoji, labels as people type them
    "test3": ["can you make {g}?", "need {g} for my game", "give me {g}", "generate: {g}", "sfx: {g}",
              "{g}, please", "is that {g}??", "1) {g} 2) nothing else", "\U0001F50A {g} \U0001F50A",
              "{c}. make it realistic!", "create {g} for me", "I'd like {g}, thx"],
    # test4: written with TEST4_PHRASES after the round-4 rules, before any of it was generated: sound
    # designers' jargon, requests, purposes, contractions, lists, all-caps, slang as people type them
    "test4": ["foley: {g}", "atmos - {g}", "one-shot, {g}", "{U} PLS", "could you generate {g} for my podcast?",
              "I\u2019d love {g}, ty", "we're making a film and need {g}", "{g} sound effect, no music",
              "hey can u do {g}", "{C}. that's it", "gimme {g} asap", "* {g} (stereo)", "{g} for a trailer"],
    # test5: written with TEST5_PHRASES after the round-5 rules, before any of it was generated: hashtags,
    # quotes, brackets, timing words, slang openers, run-ons, a designer's note, specs as people type them
    "test5": ["{g} #asmr #relaxing", 'prompt: "{g}"', "{c} towards the end", "ok so basically {g}, nothing fancy",
              "[{G}]", "yo {g} real quick", "sound designer note: {g}, dry, no reverb", "{C}?? yes exactly that",
              "lemme hear {g}", "{g}, 5 sec, mono", "{g} but make it spooky", "can i get {g}",
              "in the background, {c}, and that's all"],
    # test6: written with TEST6_PHRASES, with no word-kind rule changed since test5, before any of it was
    # generated: notes to self, references, hedges, takes, clients, scene talk as people type them
    "test6": ["{g}. loop it.", "ref: {g} (see brief)", "i need like {g} but subtle", "quick test: {g}",
              "the vibe: {g}", "{c}, maybe more than once", "{G}?!?", "sfx idea = {g}", "umm {g} i guess",
              "{g} (take 3)", "my client wants {g}", "{c} and honestly that's the whole scene",
              "{G} -- no, wait, louder"],
    # test7: written with TEST7_PHRASES after round 7's share-form contrast was committed, before any of it was
    # generated: asides, scene and draft labels, arrows, notes to self, hedges as people type them
    "test7": ["okay here's one: {g}", "{g}, recorded in a stairwell", "need this asap -> {g}", "scene 12: {c}",
              "{g} w/ a bit of reverb", "would love to hear {g} tbh", "draft 2 - {g}", "{C}. (keep it short)",
              "{g}?? or something like it", "note to self: {g}", "{g} & nothing else, ok?", "picture this: {c}",
              "{U} <- this"],
}
#: two-event forms, {A} first in time, {B} second
TWO_FORMS = {
    "dev": ["{A}, and afterwards {B}", "first {A}; later {B}", "{A} -- followed by {B}", "{B}, but only after {A}",
            "{A}. Next: {B}.", "to begin, {A}, and in the end {B}", "{A}, after that {B}", "{A} and subsequently {B}",
            "{A}; {B} comes next", "initially {A}, eventually {B}"],
    "test": ["{A}, and a moment later {B}", "it starts with {A} and ends with {B}", "{A}; soon after, {B}",
             "once {A} stops, {B}"],
    "test2": ["{A} => {B}", "{A}, {B} right after", "before {B}, {A}", "{A} until {B} takes over",
              "{A}. after a pause, {B}.", "{A} ... {B} follows"],
    "test3": ["{A}, then out of nowhere {B}", "1. {A} 2. {B}", "can you make {A} and then {B}?",
              "{A} at first, {B} at the end", "{A}, and when that's over {B}", "{A}... and THEN {B}!!"],
    "test4": ["foley: {A} + {B}", "step 1: {A}. step 2: {B}.", "{A} and after it's done, {B}",
              "start w/ {A}, end w/ {B}", "could you do {A}, with {B} after pls", "{A} FIRST, THEN {B}",
              "{A} -> {B}, for a game cutscene"],
    "test5": ["{A} at the start, {B} towards the end", "{A}, followed later by {B}", "{A} / {B} (in that order)",
              "opening: {A}. closing: {B}.", "{A} and a few secs later {B} lol", '"{A}" then "{B}"',
              "{B}, right after {A} fades out"],
    "test6": ["{A} first and {B} last", "{A}, which gives way to {B}", "part one: {A} / part two: {B}",
              "{A} >> {B}", "{A}; then, much later, {B}", "after {A} dies down, {B}", "{B} (but {A} comes before it)"],
    "test7": ["{A}, and once it's gone, {B}", "{A} --> later --> {B}", "beginning: {A}; ending: {B}", "{A}, pause, {B}",
              "{B} should come after {A}", "first up {A}, then {B} to finish", "{A} and then eventually {B}"],
}
CACHE = Path(__file__).resolve().parent.parent / "tmp" / "heldout_cache"  # /tmp/ is git-ignored


def own_words(event: str, part: str = "dev") -> set[str]:
    """The words that name ``event``: the world's own words and this benchmark's synonyms (test2's /
    test3's / test4's / test5's / test6's too on test2 / ... / test6 captions)."""
    from agx_desktop.engine.bundled import world
    from agx_desktop.engine.word_kinds import normalise
    ev = world.EVENTS[world.EVENT_INDEX[event]]
    extra = EVENT_PHRASES[event][2] | PART_PHRASES[part][event][2]
    return {normalise(w) for w in set(ev.words) | extra}


def phrase_words(item: dict, k: int) -> set[str]:
    """The words that refer to the caption's k-th event: its own words and every content word of the
    phrase the caption used for it ("grandfather" and "clock" of "a grandfather clock tick-tocking")."""
    from agx_desktop.engine.word_kinds import CONTENT, normalise, word_kind
    return own_words(item["events"][k], item["part"]) | {normalise(w) for w in item["phrases"][k].split()
                                           if word_kind(w) == CONTENT}


def heldout_captions(part: str, per_form: int) -> list[dict]:
    """Deterministic caption list: single-event and two-event, each with its events in time order."""
    out: list[dict] = []
    events = list(EVENT_PHRASES)
    for p in (["dev", "test"] if part == "all" else [part]):
        rng = np.random.default_rng(PART_RNG[p])
        phrases = PART_PHRASES[p]
        for form in SINGLE_FORMS[p]:
            for _ in range(per_form):
                ev = events[int(rng.integers(len(events)))]
                ger, cla, _ = phrases[ev]
                g, c = ger[int(rng.integers(len(ger)))], cla[int(rng.integers(len(cla)))]
                out.append({"part": p, "kind": "single", "form": form, "events": [ev],
                            "phrases": [g if "{g}" in form or "{G}" in form else c],
                            "caption": form.format(g=g, c=c, G=g[0].upper() + g[1:], C=c[0].upper() + c[1:],
                                                   U=g.upper())})
        for form in TWO_FORMS[p]:
            for _ in range(per_form):
                a, b = (events[int(i)] for i in rng.choice(len(events), 2, replace=False))
                pick = [phrases[e][int(rng.integers(2))] for e in (a, b)]
                A, B = (ph[int(rng.integers(len(ph)))] for ph in pick)
                out.append({"part": p, "kind": "two", "form": form, "events": [a, b], "phrases": [A, B],
                            "caption": form.format(A=A, B=B)})
    for i, item in enumerate(out):
        item["seed"] = 100 + i + PART_SEED_OFFSET[item["part"]]
    return out


def _cache_path(item: dict, mode: str) -> Path:
    import hashlib
    key = hashlib.sha1(f"{item['caption']}|{item['seed']}".encode()).hexdigest()[:12]
    return CACHE / mode / f"{key}.json"


def run_heldout_cache(args: argparse.Namespace) -> None:
    """Generate each caption's take once (seed fixed per caption), check its event order with the
    bundled classifier, and cache its explanation in every mode asked (``quick@1`` = quick with
    explanation seed 1): the views below only read these."""
    from agx_desktop.engine.audio import resample
    from agx_desktop.engine.bundled import world
    from agx_desktop.engine.bundled.loader import load_classifier
    from agx_desktop.engine.explain import explain
    from agx_desktop.engine.generation import generate
    from agx_desktop.engine.models import load_model
    from agx_desktop.engine.take import GenerationParams

    items = _items(args)
    modes = args.modes.split(",")
    todo = [it for it in items if any(not _cache_path(it, m).exists() for m in modes)]
    print(f"{len(items)} captions, {len(todo)} to explain in {modes}", flush=True)
    if not todo:
        return
    model, clf = load_model("bundled"), load_classifier("cpu")
    for item in todo:
        t0 = time.time()
        take = generate(model, item["caption"], GenerationParams(seed=item["seed"]))
        frames = clf.frame_probs(resample(take.audio, model.sample_rate, 16000))[0]  # [events, frames]
        half = frames.shape[1] // 2
        ev = [world.EVENT_INDEX[e] for e in item["events"]]
        heard = {"first": frames[ev, :half].mean(1).tolist(), "second": frames[ev, half:].mean(1).tolist(),
                 "clip": frames[ev].max(1).tolist()}
        for mode in modes:
            path = _cache_path(item, mode)
            if path.exists() or ("#" in mode and item["kind"] != "two"):
                continue
            ex = explain(model, take, **_mode_settings(mode, take.duration))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"item": item, "heard": heard, "explanation": ex.to_json(),
                                        "seconds": round(time.time() - t0, 1)}))
        print(f"{time.time() - t0:5.1f} s  {item['part']} {item['caption']}", flush=True)


def _mode_settings(mode: str, duration: float) -> dict:
    """``quick``, ``quick@1`` (explanation seed 1), ``quick#first`` (the focus variant on the first half
    of the clip: only its steps in the cosine terms) -> AudioGenX settings."""
    mode, _, half = mode.partition("#")
    name, _, seed = mode.partition("@")
    settings: dict = {"mode": name, "seed": int(seed or 0)}
    if half:
        settings["focus"] = (0.0, duration / 2) if half == "first" else (duration / 2, duration)
    return settings


def _load_cached(item: dict, mode: str):
    from agx_desktop.engine.explanation import Explanation
    d = json.loads(_cache_path(item, mode).read_text())
    return Explanation.from_json(d["explanation"]), d["heard"]


def _top_is_own(words: list[str], scores: np.ndarray, own: set[str], rank: str) -> bool:
    from agx_desktop.engine.word_kinds import classify_scores, normalise
    kinds = classify_scores(words, scores)
    ranked = {"all": sorted(kinds.words, key=lambda w: w.rank), "content": kinds.content, "sound": kinds.sound}[rank]
    return bool(ranked) and normalise(ranked[0].word) in own


#: a take "plays" an event when the bundled classifier's frame probability for it reaches this somewhere in
#: the clip (its decision threshold). Added 2026-12-03 (session 3), before test6 was written: on a take that
#: does not play the event, the event's words did not make the sound, and a faithful explanation need not
#: name them; the single-event figure is also given over the takes that play their event, as the halves'
#: is over the takes that play their events in order.
HEARD = 0.5


def _plays(heard: dict) -> list[bool]:
    """Per event of the caption: whether the take plays it (:data:`HEARD`)."""
    return [p >= HEARD for p in heard["clip"]]


def _order_confirmed(heard: dict) -> bool:
    """The take plays the first event louder in the first half and the second in the second half."""
    (a1, b1), (a2, b2) = heard["first"], heard["second"]
    return a1 > a2 and b2 > b1


def _mean_scores(exs: list, interval=None) -> np.ndarray:
    return np.mean([ex.word_importance(interval) for ex in exs], axis=0)


class _View(tp.NamedTuple):
    """One way to read the explanations: which cached modes it needs, how a half's word scores are
    made, and which words are ranked."""

    doc: str
    single_modes: tuple[str, ...]
    half_modes: tuple[str, ...]  # '#' = the half's own focus run ('quick#' -> quick#first / quick#second)
    contrast: bool  # a half's score minus the rest of the clip's (engine.word_kinds.interval_contrast)
    rank: str  # all | content (function words apart) | sound (function and context words apart)
    paper: bool = False  # the paper's method and ranking, nothing changed
    form: str = "mean"  # the contrast's form (word_kinds.CONTRAST_FORMS): "share" = round 7's candidate


_Q, _F = ("quick",), ("quick#",)
VIEWS: dict[str, _View] = {
    "paper": _View("AudioGenX (default mode quick), every word ranked: the paper's ranking; a half = Eq. 7 over "
                   "the steps of that half", _Q, _Q, False, "all", True),
    "content": _View("the same scores, top CONTENT word (function words listed apart: engine/word_kinds.py)",
                     _Q, _Q, False, "content"),
    "sound": _View("the same scores, top SOUND word (function and context words listed apart: "
                   "word_kinds.is_context_word, WordNet sense classes)", _Q, _Q, False, "sound"),
    "contrast": _View("content view; a half's score = its Eq. 7 minus the rest of the clip's "
                      "(word_kinds.interval_contrast)", _Q, _Q, True, "content"),
    "sound+contrast": _View("sound view with the contrast", _Q, _Q, True, "sound"),
    "contrast, share form": _View("content view; a half's score = its mean share of each step's importance minus "
                                  "the rest of the clip's (interval_contrast form='share': round 7's candidate, not "
                                  "shipped)", _Q, _Q, True, "content", form="share"),
    "sound+contrast, share form": _View("sound view with the share-form contrast", _Q, _Q, True, "sound",
                                        form="share"),
    "focus": _View("content view; each half explained by its own run whose cosine terms cover only that half's "
                   "steps (the `focus` variant)", _Q, _F, False, "content"),
    "focus+contrast": _View("focus runs with the contrast", _Q, _F, True, "content"),
    "sound+focus+contrast": _View("sound view, focus runs with the contrast", _Q, _F, True, "sound"),
}


def _needed(item: dict, view: _View) -> list[str]:
    if item["kind"] == "single":
        return list(view.single_modes)
    return [m.replace("#", f"#{h}") if "#" in m else m for m in view.half_modes for h in ("first", "second")]


def _score_item(item: dict, view: _View) -> dict:
    from agx_desktop.engine.word_kinds import interval_contrast
    row = {"part": item["part"], "kind": item["kind"], "caption": item["caption"], "events": item["events"]}
    if item["kind"] == "single":
        cached = [_load_cached(item, m) for m in view.single_modes]
        exs = [ex for ex, _ in cached]
        row["plays"] = _plays(cached[0][1])
        scores = _mean_scores(exs)
        row.update(ok=[_top_is_own(exs[0].words, scores, own_words(item["events"][0], item["part"]), view.rank)],
                   ok_phrase=[_top_is_own(exs[0].words, scores, phrase_words(item, 0), view.rank)],
                   scores=[[round(float(v), 3) for v in scores]], words=exs[0].words)
        return row
    heard = _load_cached(item, view.half_modes[0].replace("#", "#first"))[1]
    row["confirmed"] = _order_confirmed(heard)
    row["plays"] = _plays(heard)
    (a1, b1), (a2, b2) = heard["first"], heard["second"]
    row["grounded"] = [a1 > b1, b2 > a2]  # the half's own event is the louder of the two there
    ok, ok_phrase, all_scores = [], [], []
    for h, name in enumerate(("first", "second")):
        exs = [_load_cached(item, m.replace("#", f"#{name}"))[0] for m in view.half_modes]
        d = exs[0].duration
        half = ((0.0, d / 2), (d / 2, d))[h]
        scores = (np.mean([interval_contrast(ex, half, view.form) for ex in exs], axis=0) if view.contrast
                  else _mean_scores(exs, half))
        ok.append(_top_is_own(exs[0].words, scores, own_words(item["events"][h], item["part"]), view.rank))
        ok_phrase.append(_top_is_own(exs[0].words, scores, phrase_words(item, h), view.rank))
        all_scores.append([round(float(v), 3) for v in scores])
    row.update(ok=ok, ok_phrase=ok_phrase, scores=all_scores, words=exs[0].words)
    return row


def score_views(items: list[dict], views: dict[str, _View]) -> dict[str, list[dict]]:
    """Per view: one row per caption, part by part (a part whose explanations are not all cached for a
    view is left out of that view)."""
    scored: dict[str, list[dict]] = {}
    for part in dict.fromkeys(it["part"] for it in items):
        sel = [it for it in items if it["part"] == part]
        for name, v in views.items():
            if all(_cache_path(it, m).exists() for it in sel for m in _needed(it, v)):
                scored.setdefault(name, []).extend(_score_item(it, v) for it in sel)
    return scored


def _figures(rows: list[dict], key: str = "ok") -> tuple[list[bool], list[bool], list[bool], int, int, list[bool],
                                                         list[bool]]:
    """single-event flags, halves of order-confirmed takes, halves whose own event is the louder one
    there (take-grounded), order-confirmed takes, two-event takes, single-event flags of the takes that
    play their event, halves of order-confirmed takes that play both events (:data:`HEARD`; rows scored
    before it count as playing); ``key`` ok = the event's own words name it, ok_phrase = any content
    word of its phrase does."""
    single = [ok for r in rows if r["kind"] == "single" for ok in r[key]]
    two = [r for r in rows if r["kind"] == "two"]
    halves = [ok for r in two if r["confirmed"] for ok in r[key]]
    grounded = [ok for r in two for ok, g in zip(r[key], r["grounded"]) if g]
    single_played = [ok for r in rows if r["kind"] == "single" and all(r.get("plays", [True])) for ok in r[key]]
    halves_played = [ok for r in two if r["confirmed"] and all(r.get("plays", [True])) for ok in r[key]]
    return single, halves, grounded, sum(r["confirmed"] for r in two), len(two), single_played, halves_played


def _items(args: argparse.Namespace) -> list[dict]:
    """The part's captions (``all``: dev with --per-form, test with --test-per-form, test2 with
    --test2-per-form, test3 with --test3-per-form, test4 with --test4-per-form, test5 with
    --test5-per-form, each numbered as when cached alone)."""
    per_form = {"dev": args.per_form, "test": args.test_per_form, "test2": args.test2_per_form,
                "test3": args.test3_per_form, "test4": args.test4_per_form, "test5": args.test5_per_form,
                "test6": args.test6_per_form, "test7": args.test7_per_form}
    return [it for p in (per_form if args.part == "all" else [args.part]) for it in heldout_captions(p, per_form[p])]


def _views(seeds: int) -> dict[str, _View]:
    """:data:`VIEWS`, and with ``seeds`` > 1 the paper's ranking and sound+contrast on the mean of that
    many explanation seeds (``quick``, ``quick@1``, ...; cached with ``heldout-cache --modes``)."""
    if seeds <= 1:
        return VIEWS
    modes = ("quick",) + tuple(f"quick@{k}" for k in range(1, seeds))
    return {**VIEWS,
            f"paper, {seeds} seeds": _View(f"the paper's ranking on the mean word importance of {seeds} explanation "
                                           "seeds", modes, modes, False, "all", True),
            f"sound+contrast, {seeds} seeds": _View(f"sound+contrast on the mean of {seeds} explanation seeds "
                                                    "(a half's contrast averaged over the seeds)", modes, modes, True,
                                                    "sound")}


def run_heldout(args: argparse.Namespace) -> None:
    items = _items(args)
    views = _views(args.seeds)
    scored = score_views(items, views)
    lines = ["| view | part | single: own word on top (≥ 95%) | two-event: each half names its event (≥ 90%), "
             "takes in order | the same, take-grounded halves | single, phrase words count | halves, phrase words "
             "count | takes in order / all | single, takes that play their event | halves, in-order takes that play "
             "both |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for part in dict.fromkeys(r["part"] for rows in scored.values() for r in rows):
        for view, rows in scored.items():
            sel = [r for r in rows if r["part"] == part]
            if not sel:  # this view's explanations are not cached for this part
                continue
            single, halves, grounded, confirmed, two, single_played, halves_played = _figures(sel)
            phrase_single, phrase_halves = _figures(sel, "ok_phrase")[:2]
            lines.append(f"| {view}{' (paper-faithful)' if views[view].paper else ''} | {part} | {_rate(single)} "
                         f"| {_rate(halves)} | {_rate(grounded)} | {_rate(phrase_single)} | {_rate(phrase_halves)} "
                         f"| {confirmed}/{two} | {_rate(single_played)} | {_rate(halves_played)} |")
    print("\n".join(lines))
    if args.misses:
        for view, rows in scored.items():
            for r in rows:
                if not all(r["ok"]) and (r["kind"] == "single" or r["confirmed"]):
                    print(view, r["part"], r["ok"], r["caption"], list(zip(r["words"], *r["scores"])))
    if args.write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{args.name}.json").write_text(json.dumps(
            {"per_form": {"dev": args.per_form, "test": args.test_per_form, "test2": args.test2_per_form,
                          "test3": args.test3_per_form, "test4": args.test4_per_form,
                          "test5": args.test5_per_form, "test6": args.test6_per_form,
                          "test7": args.test7_per_form},
             "part": args.part, "seeds": args.seeds, "views": {k: views[k].doc for k in scored},
             "rows": scored}, separators=(",", ":")))
        header = args.header.read_text() if args.header else ""
        legend = "\n".join(f"* **{k}**: {views[k].doc}" for k in scored)
        footer = "\n" + args.footer.read_text() if args.footer else ""
        (RESULTS / f"{args.name}.md").write_text(header + "\n".join(lines) + "\n\n" + legend + "\n" + footer)


def _rate(flags: list[bool]) -> str:
    return f"{sum(flags)}/{len(flags)} ({100 * sum(flags) / max(len(flags), 1):.0f}%)" if flags else "-"


# ----------------------------------------------------------------------------- Table 1 per mode

TABLE1_MODES = ("quick", "paper", "reference-code")  # fast = paper's optimisation up to float rounding
TABLE1_JSONL = RESULTS / "table1_modes.jsonl"


def _explain_sharing(model, take, mode: str, epochs: int) -> dict:
    """{row name: (step masks, size, seconds, epochs run)} for ``mode``; reference-code trains ONCE and
    reports both masks it can use: the Gumbel sample (its default) and p (the same training, the same
    generator; ``mask_used`` only decides what leaves :meth:`AudioGenX.compute`)."""
    from agx_desktop.engine.explain import audiogenx, explain
    seen: dict = {}
    original = audiogenx._used_mask

    def keep_p(p, cfg, generator):
        seen["p"] = p.detach().cpu().numpy()
        return original(p, cfg, generator)

    t0 = time.time()
    audiogenx._used_mask = keep_p
    try:
        ex = explain(model, take, mode=mode, seed=0, epochs=epochs)
    finally:
        audiogenx._used_mask = original
    secs, run = round(time.time() - t0, 1), ex.extras["epochs_run"]
    used = np.asarray(ex.step_masks, dtype=np.float32)
    if mode != "reference-code":
        return {mode: (used, float(used.mean()), secs, run)}
    p = np.asarray(seen["p"], dtype=np.float32)
    return {"reference-code": (used, float(used.mean()), secs, run),
            "reference-code (p)": (p, float(p.mean()), secs, run)}


def run_table1(args: argparse.Namespace) -> None:
    """One record per caption appended to table1_modes.jsonl (a stopped run resumes at the next caption):
    one take, every mode's explanation of it (explanation seed 0), ONE batched sampling call for every
    row's factual and counterfactual audio and the floor (sampling seed 1000 + i), and both KL readings
    of the same samples. ``--start/--count`` pick the captions of one part."""
    from agx_desktop.engine.generation import generate
    from agx_desktop.engine.models import load_model
    from agx_desktop.engine.take import GenerationParams
    from agx_desktop.evaluation import metrics
    from agx_desktop.evaluation.protocol import write_heldout_world_captions

    with tempfile.TemporaryDirectory() as tmp:
        write_heldout_world_captions(Path(tmp) / "c.txt", args.start + args.count)
        captions = (Path(tmp) / "c.txt").read_text().split("\n")[:args.start + args.count]
    done = {json.loads(ln)["index"] for ln in TABLE1_JSONL.read_text().splitlines()} if TABLE1_JSONL.exists() else set()
    todo = [i for i in range(args.start, args.start + args.count) if i not in done]
    if todo:
        model, clf = load_model("bundled"), metrics.load_classifier("bundled")
    n = args.samples
    for i in todo:
        t0 = time.time()
        take = generate(model, captions[i], GenerationParams(seed=i))
        rows: dict = {}
        for mode in args.modes.split(","):
            rows.update(_explain_sharing(model, take, mode, args.epochs))
        masks: list = []
        for m, *_ in rows.values():
            masks += [m] * n + [1.0 - m] * n
        masks += [None] * n
        t1 = time.time()
        audio = metrics.sample_with_masks(model, take, masks, seed=1000 + i)
        p_ref = clf.probs(take.audio, model.sample_rate)
        c = int(np.argmax(p_ref))
        probs = [clf.probs(a, model.sample_rate) for a in audio]
        rec: dict = {"index": i, "caption": captions[i], "top1": c, "methods": {}, "floor": {},
                     "sampling_seconds": round(time.time() - t1, 1), "samples": n, "epochs": args.epochs}
        for j, (name, (_, size, secs, run)) in enumerate(rows.items()):
            f_rows, cf_rows = probs[2 * n * j:2 * n * j + n], probs[2 * n * j + n:2 * n * (j + 1)]
            rec["methods"][name] = {"size": size, "seconds": secs, "epochs_run": run}
            for direction in metrics.KL_DIRECTIONS:
                fid_f, kl_f = metrics.sample_scores(p_ref, f_rows, c, direction)
                fid_cf, kl_cf = metrics.sample_scores(p_ref, cf_rows, c, direction)
                rec["methods"][name].update({"fid_f": fid_f, "fid_cf": fid_cf, f"kl_f[{direction}]": kl_f,
                                             f"kl_cf[{direction}]": kl_cf})
        for direction in metrics.KL_DIRECTIONS:
            fid, kl = metrics.sample_scores(p_ref, probs[2 * n * len(rows):], c, direction)
            rec["floor"].update({"fid": fid, f"kl[{direction}]": kl})
        rec["seconds"] = round(time.time() - t0, 1)
        RESULTS.mkdir(exist_ok=True)
        with TABLE1_JSONL.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        print(json.dumps({k: rec[k] for k in ("index", "caption", "seconds", "sampling_seconds")}), flush=True)
    write_table1(args)


def write_table1(args: argparse.Namespace) -> None:
    """benchmarks/results/table1_modes.md from every record in table1_modes.jsonl."""
    from agx_desktop.evaluation import metrics
    records = [json.loads(ln) for ln in TABLE1_JSONL.read_text().splitlines()]
    names = list(records[0]["methods"])
    keys = ["fid_f", "fid_cf", "kl_f[orig_to_sample]", "kl_cf[orig_to_sample]", "kl_f[sample_to_orig]",
            "kl_cf[sample_to_orig]", "size", "seconds", "epochs_run"]
    lines = ["| mode | Fid_F ↓ | Fid_CF ↑ | KL_F[o→s] ↓ | KL_CF[o→s] ↑ | KL_F[s→o] ↓ | KL_CF[s→o] ↑ | size | s/take "
             "| epochs |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name in names:
        cells = []
        for k in keys:
            m, se = metrics.mean_se([r["methods"][name][k] for r in records])
            cells.append(f"{m:.3f} ± {se:.3f}" if k not in ("seconds", "epochs_run") else f"{m:.1f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    fl = {k: metrics.mean_se([r["floor"][k] for r in records]) for k in records[0]["floor"]}
    lines.append(f"| floor (new samples, no mask) | {fl['fid'][0]:.3f} ± {fl['fid'][1]:.3f} | | "
                 f"{fl['kl[orig_to_sample]'][0]:.3f} ± {fl['kl[orig_to_sample]'][1]:.3f} | | "
                 f"{fl['kl[sample_to_orig]'][0]:.3f} ± {fl['kl[sample_to_orig]'][1]:.3f} | | | | |")
    base = "paper" if "paper" in names else names[0]
    lines += ["", f"Paired per caption (same take, same samples' seed): each mode minus `{base}`, mean ± SE; "
              "* where |mean| > 2 SE.", "",
              "| mode − " + base + " | ΔFid_F | ΔFid_CF | ΔKL_F[o→s] | ΔKL_CF[o→s] | ΔKL_F[s→o] | ΔKL_CF[s→o] | Δsize |",
              "|---|---|---|---|---|---|---|---|"]
    for name in (n for n in names if n != base):
        cells = []
        for k in keys[:7]:
            m, se = metrics.mean_se([r["methods"][name][k] - r["methods"][base][k] for r in records])
            cells.append(f"{m:+.3f} ± {se:.3f}" + ("*" if len(records) > 1 and abs(m) > 2 * se else ""))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    header = args.header.read_text() if getattr(args, "header", None) else ""
    body = (f"{len(records)} held-out world captions (indices {min(r['index'] for r in records)}–"
            f"{max(r['index'] for r in records)}), {records[0].get('samples', 5)} samples each of factual and "
            "counterfactual audio, mean ± standard error over captions.\n\n")
    (RESULTS / "table1_modes.md").write_text(header + body + "\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    t = sub.add_parser("table1")
    t.add_argument("--start", type=int, default=0, help="first held-out caption of this part")
    t.add_argument("--count", type=int, default=20, help="captions in this part (~1 min each, quiet machine)")
    t.add_argument("--epochs", type=int, default=50)
    t.add_argument("--samples", type=int, default=5)
    t.add_argument("--modes", default=",".join(TABLE1_MODES))
    t.add_argument("--header", type=Path, default=None, help="Markdown put above the table")
    for name in ("heldout-cache", "heldout"):
        h = sub.add_parser(name)
        h.add_argument("--per-form", type=int, default=4, help="dev captions per form")
        h.add_argument("--test-per-form", type=int, default=6, help="test captions per form")
        h.add_argument("--test2-per-form", type=int, default=5, help="test2 captions per form")
        h.add_argument("--test3-per-form", type=int, default=5, help="test3 captions per form")
        h.add_argument("--test4-per-form", type=int, default=5, help="test4 captions per form")
        h.add_argument("--test5-per-form", type=int, default=5, help="test5 captions per form")
        h.add_argument("--test6-per-form", type=int, default=5, help="test6 captions per form")
        h.add_argument("--test7-per-form", type=int, default=5, help="test7 captions per form")
        h.add_argument("--part", choices=["dev", "test", "test2", "test3", "test4", "test5", "test6", "test7", "all"],
                       default="dev")
        h.add_argument("--seeds", type=int, default=1, help="heldout: also rank the mean of this many explanation "
                                                          "seeds (needs --modes quick,quick@1,... cached)")
        h.add_argument("--modes", default="quick")
        h.add_argument("--misses", action="store_true", help="heldout: list every caption a view gets wrong")
        h.add_argument("--write", action="store_true", help="heldout: write results/heldout_words.{md,json}")
        h.add_argument("--header", type=Path, default=None, help="heldout: Markdown put above the table")
        h.add_argument("--footer", type=Path, default=None, help="heldout: Markdown put below it")
        h.add_argument("--cache", type=Path, default=CACHE, help="where the takes' explanations are cached (a "
                                                                 "folder per explainer default, e.g. after a change "
                                                                 "of quick mode's schedule)")
        h.add_argument("--name", default="heldout_words", help="heldout --write: stem of the results files")
    args = ap.parse_args()
    if args.what != "table1":
        globals()["CACHE"] = args.cache
    {"table1": run_table1, "heldout-cache": run_heldout_cache, "heldout": run_heldout}[args.what](args)


if __name__ == "__main__":
    main()
