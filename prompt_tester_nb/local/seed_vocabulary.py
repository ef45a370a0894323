"""The demo data's vocabulary: names, products, tickets, vendors, messages and schemas.

Word lists only, with no logic: the prompt families (``seed_prompts``) draw contexts and
answers from them with a seeded ``random.Random``. Editing a list changes the demo data (and
the notebooks' committed outputs, which ``make test`` compares).
"""

from __future__ import annotations

FIRST = (
    "Maria", "James", "Aisha", "Chen", "Lukas", "Sofia", "Mateo", "Priya", "Olivia", "Kwame",
    "Hannah", "Diego", "Yuki", "Noah", "Fatima", "Liam", "Elena", "Omar", "Grace", "Tomasz",
    "Amara", "Jonas", "Isabel", "Ravi", "Chloe", "Mohammed", "Ingrid", "Samuel", "Leila", "Kenji",
)  # fmt: skip
LAST = (
    "Garcia", "Smith", "Khan", "Wang", "Müller", "Rossi", "Fernández", "Patel", "Johnson",
    "Mensah", "Schmidt", "López", "Tanaka", "Brown", "Haddad", "O'Connor", "Petrova", "Nasser",
    "Kim", "Nowak", "Okafor", "Berg", "Costa", "Iyer", "Dubois", "Ali", "Larsen", "Adeyemi",
)  # fmt: skip
AGENTS = ("Dana", "Marco", "Sven", "Ayumi", "Carlos", "Nadia", "Ben", "Ines")

PRODUCTS: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("TrailLite 2 Tent", ("2-person", "1.6 kg packed weight", "aluminium poles",
                          "3-season rating"), 24900),
    ("Summit 45L Backpack", ("adjustable torso length", "rain cover included",
                             "hydration sleeve", "recycled nylon shell"), 15900),
    ("AeroBrew Pour-Over Kettle", ("gooseneck spout", "built-in thermometer",
                                   "1 litre capacity", "works on induction"), 5900),
    ("Nimbus Down Jacket", ("800-fill responsibly sourced down", "packs into its own pocket",
                            "water-repellent shell"), 21900),
    ("Lumen 400 Headlamp", ("400 lumens", "USB-C rechargeable", "red night mode",
                            "IPX6 waterproof"), 4900),
    ("CozyNest Weighted Blanket", ("7 kg", "breathable bamboo cover",
                                   "machine-washable cover"), 12900),
    ("Ridge Hiking Boots", ("Vibram outsole", "waterproof membrane", "wide fit available"),
     18900),
    ("Harbor Cast-Iron Skillet", ("pre-seasoned", "26 cm", "oven safe to 260 °C"), 6900),
    ("Drift Inflatable Kayak", ("2-person", "drop-stitch floor", "pump and paddles included"),
     49900),
    ("Solace Sleep Pad", ("R-value 4.2", "self-inflating", "7.5 cm thick"), 11900),
    ("Glow Smart Desk Lamp", ("adjustable colour temperature", "wireless charging base",
                              "app control"), 7900),
    ("Pebble Bluetooth Speaker", ("12-hour battery", "IP67 dust and water proof",
                                  "stereo pairing"), 8900),
)  # fmt: skip
AUDIENCES = (
    "first-time backpackers", "busy parents", "weekend campers", "coffee enthusiasts",
    "remote workers", "gift shoppers", "ultralight hikers", "students in their first flat",
)  # fmt: skip
TONES = ("playful", "premium", "practical", "warm")
WHEN = ("last Monday", "last week", "two weeks ago", "on the 3rd", "ten days ago", "on Friday")
EVENTS = ("my trip on the 20th", "my daughter's birthday", "a hiking weekend", "Christmas")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
EXTRA_SENTENCES = (
    "I've been a customer for {years} years and this is the first time something like this"
    " happened.",
    "Thanks in advance for your help.",
    "I already tried the live chat but it disconnected twice.",
    "Please get back to me soon, this is the second email I'm sending about this.",
    "My phone number is on the account if a call is easier.",
    "Honestly I'm quite disappointed, I recommended you to all my friends.",
    "I attached a photo of the packing slip.",
)

# (kind, subject, body, core of the reply)
TICKETS: tuple[tuple[str, str, str, str], ...] = (
    (
        "late",
        "Where is my order {order_id}?",
        "Hi, I ordered the {product} {when} and the tracking page has said 'in transit' for"
        " {days} days now. I need it before {event}. Can you check what's going on?",
        "I checked order {order_id}: the {product} left our warehouse {when} and the carrier"
        " shows it at their regional depot. I've opened a trace with them and will email you"
        " an update within 24 hours, so it can still reach you before {event}.",
    ),
    (
        "damaged",
        "{product} arrived damaged",
        "The {product} from order {order_id} arrived today with {damage}. The box itself"
        " looked fine. I'd like a replacement rather than a refund if possible.",
        "I'm sorry the {product} arrived with {damage}. I've started a free replacement for"
        " order {order_id}; it ships within two business days and you don't need to send the"
        " damaged one back first.",
    ),
    (
        "double_charge",
        "Charged twice for order {order_id}",
        "My card statement shows two charges of {amount} for order {order_id}, both on"
        " {weekday}. I only placed one order. Please refund the duplicate.",
        "You're right, I can see two authorisations of {amount} for order {order_id}. The"
        " second one is a pending hold that our payment provider releases within 3 to 5"
        " business days; if it is still there after that, reply here and we'll refund it"
        " manually.",
    ),
    (
        "return",
        "How do I return the {product}?",
        "I bought the {product} {when} but it isn't right for me ({reason}). Order"
        " {order_id}. How do I send it back and how long does the refund take?",
        "You can return the {product} within 60 days: go to acme.example/returns, enter order"
        " {order_id} and print the free label. The refund of {amount} reaches your card 5 to 7"
        " business days after the parcel arrives at our warehouse.",
    ),
    (
        "promo",
        "Discount code {code} not accepted",
        "I tried to use the code {code} on order {order_id} but checkout said it had expired."
        " The newsletter said it's valid until the end of the month. Could you still apply"
        " the discount?",
        "Code {code} should have worked for order {order_id}, so"
        " I've applied the 15% discount manually and refunded {discount} to your original"
        " payment method. You'll see it on your statement within 5 business days.",
    ),
    (
        "address",
        "Change delivery address for {order_id}",
        "I just moved and realised order {order_id} ({product}) is going to my old address."
        " The new one is {address}. Is it too late to change it?",
        "Good news: order {order_id} hasn't shipped yet, so I've changed the delivery address"
        " to {address}. You'll get a new confirmation email within the hour.",
    ),
)
DAMAGES = (
    "a cracked handle", "a torn seam along the side", "a dent in the lid",
    "two missing poles", "a scratched lens", "a broken zip",
)  # fmt: skip
RETURN_REASONS = ("too small", "the colour is different from the photos", "too heavy for me")
STREETS = ("Elm Street", "Harbour Road", "Linden Allee", "Rue des Lilas", "Calle Mayor")
CITIES = ("Leeds", "Hamburg", "Lyon", "Valencia", "Rotterdam", "Gdansk")

ACCOUNTS = (
    "Northwind Outfitters", "Bluepeak Sports", "Cedar & Pine Retail", "Harbor Camping Co.",
    "Trailhead Rentals", "Alpine Works", "Fjord & Field", "Canyon Supply",
)  # fmt: skip
LANGUAGES = (("English", 70), ("German", 15), ("Spanish", 15))

VENDORS: tuple[tuple[str, str, str, tuple[tuple[str, int], ...]], ...] = (
    # name, address, currency, (item, unit price in cents)
    ("Nordic Fabrics AB", "Sveavägen 44, 113 59 Stockholm, Sweden", "SEK",
     (("Ripstop nylon 40D, per metre", 6400), ("Polyester mesh, per metre", 3100),
      ("Seam tape roll, 50 m", 21900))),
    ("Pacific Zipper Co.", "1820 Harbor Blvd, Oakland, CA 94607, USA", "USD",
     (("#5 coil zipper, 60 cm", 42), ("#8 two-way zipper, 90 cm", 118),
      ("Zipper pulls, glow-in-the-dark", 19))),
    ("Greenleaf Packaging Ltd", "Unit 7, Riverside Park, Leeds LS10 1AB, UK", "GBP",
     (("Recycled shipping box, medium", 74), ("Paper void fill, roll", 1650),
      ("Compostable mailer bag", 21))),
    ("Helix Logistics GmbH", "Am Hafen 12, 20457 Hamburg, Germany", "EUR",
     (("Pallet storage, per week", 450), ("Pick and pack, per order", 185),
      ("Express handling surcharge", 1200))),
    ("Keystone Metalworks Inc.", "55 Foundry Lane, Pittsburgh, PA 15222, USA", "USD",
     (("Aluminium tent pole set", 1275), ("Cast-iron skillet blank, 26 cm", 830),
      ("Stainless kettle body", 960))),
)  # fmt: skip
CURRENCY_SIGNS = {"USD": "$", "GBP": "£", "EUR": "€", "SEK": "kr"}

ACME_LABELS = "order_status, refund_request, product_question, complaint, account_access, other"
ACME_MESSAGES: dict[str, tuple[str, ...]] = {
    "order_status": (
        "hey where is my {product}?? ordered {when}, order {order_id}",
        "Hi, can you tell me when order {order_id} will arrive? Tracking hasn't updated.",
    ),
    "refund_request": (
        "I returned the {product} {when} and still have no refund. Order {order_id}.",
        "Please refund order {order_id}, the {product} never arrived and I gave up waiting.",
    ),
    "product_question": (
        "Is the {product} suitable for {audience}? Does it come with a warranty?",
        "Quick question: does the {product} have {feature}? The page isn't clear.",
    ),
    "complaint": (
        "Third time I'm writing. The {product} broke after two uses and nobody answers.",
        "Your courier left order {order_id} in the rain. The {product} box was soaked.",
    ),
    "account_access": (
        "I can't log in, the password reset email never arrives. My email is {email}.",
        "My account got locked after I changed my phone. How do I get back in?",
    ),
    "other": (
        "Do you have a physical store in {city}?",
        "Are you hiring for the warehouse in {city}?",
    ),
}
CHANNELS = ("email", "live chat", "app review", "Instagram DM", "contact form")

GLOBEX_LABELS = "equipment_fault, safety_incident, supply_request, scheduling, other"
GLOBEX_MESSAGES: dict[str, tuple[str, ...]] = {
    "equipment_fault": (
        "The -80 freezer in lab {lab} is alarming again, display reads {temp} °C.",
        "Centrifuge {unit} in lab {lab} makes a grinding noise above 8,000 rpm.",
    ),
    "safety_incident": (
        "Small {compound} spill in lab {lab} fume hood 2, contained, nobody hurt.",
        "Eyewash station in lab {lab} has no water pressure.",
    ),
    "supply_request": (
        "We are down to two boxes of nitrile gloves (size M) in lab {lab}.",
        "Please order 500 g of {compound} for experiment {experiment_id}.",
    ),
    "scheduling": (
        "Can I book the confocal microscope on {weekday} from 9 to 12 for {experiment_id}?",
        "Need to move the {weekday} group meeting, half the team is at the conference.",
    ),
    "other": (
        "Does anyone know who has the key for the storage room next to lab {lab}?",
        "Is the cafeteria open during the inventory week?",
    ),
}
COMPOUNDS = ("sodium azide", "acetonitrile", "tris buffer", "ethidium bromide", "DMSO")
LABS = ("B2", "B4", "C1", "C7", "D3")

SCHEMA_SALES = """\
orders(order_id text primary key, customer_id int, placed_at timestamptz,
       shipped_at timestamptz, ship_country text, status text, total_cents int)
order_items(order_id text, product_id int, quantity int, unit_price_cents int)
products(product_id int primary key, name text, category text, launched_on date)
customers(customer_id int primary key, email text, country text, created_at timestamptz)"""
SCHEMA_SUPPORT = """\
tickets(ticket_id int primary key, customer_id int, opened_at timestamptz,
        closed_at timestamptz, channel text, intent text, agent text)
customers(customer_id int primary key, email text, country text, created_at timestamptz)
csat(ticket_id int, score int, answered_at timestamptz)"""
COUNTRIES = ("Germany", "France", "Spain", "United Kingdom", "Netherlands", "Poland", "Sweden")
MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
