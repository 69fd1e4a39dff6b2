-- Demo catalog for local development (product -seed). Idempotent: products
-- whose SKU already exists are left as they are, so restarts never undo
-- changes made through the API.
INSERT INTO products (sku, name, description, price_minor, currency, stock) VALUES
    ('COF-GRN-1KG',   'Ethiopia Yirgacheffe green beans, 1 kg', 'Washed heirloom Arabica for home roasting. Notes of jasmine, bergamot and lemon.', 1890, 'EUR', 120),
    ('COF-ESP-250',   'House espresso blend, 250 g',            'Medium-dark roast of Brazilian and Guatemalan beans. Chocolate, hazelnut, low acidity.', 990, 'EUR', 340),
    ('COF-GRD-HND',   'Hand burr grinder',                      'Stainless steel conical burrs, 40 click settings from espresso to French press.', 8900, 'EUR', 45),
    ('COF-KTL-GSN',   'Gooseneck kettle, 1 l',                  'Pour-over kettle with a thermometer in the lid. Works on gas, electric and induction.', 4950, 'EUR', 60),
    ('COF-DRP-V60',   'Ceramic pour-over dripper, size 02',     'Spiral ribs and a single large hole for a fast, clean cup. Brews 1 to 4 cups.', 2400, 'EUR', 85),
    ('COF-FLT-100',   'Paper filters, 100 pack',                'Bleached cone filters, size 02. Rinse before brewing.', 650, 'EUR', 500),
    ('COF-SCL-01',    'Coffee scale with timer',                'Weighs to 0.1 g up to 2 kg; USB-C rechargeable.', 3490, 'EUR', 0),
    ('BK-DDIA-01',    'Designing Data-Intensive Applications',  'Martin Kleppmann. Reliable, scalable and maintainable systems: storage, replication, partitioning, transactions and streams.', 4599, 'USD', 25),
    ('BK-GOPL-01',    'The Go Programming Language',            'Alan A. A. Donovan and Brian W. Kernighan. The definitive introduction to Go.', 3999, 'USD', 40),
    ('BK-SRE-01',     'Site Reliability Engineering',           'How Google runs production systems: SLOs, toil, monitoring, incident response and postmortems.', 4499, 'USD', 18),
    ('BK-MSVC-02',    'Building Microservices, 2nd edition',    'Sam Newman. Designing fine-grained systems: decomposition, communication, deployment and testing.', 5499, 'USD', 12),
    ('BK-COFFEE-ATL', 'The World Atlas of Coffee',              'James Hoffmann. From beans to brewing, coffee explored, explained and enjoyed.', 2999, 'USD', 30),
    ('OUT-TNT-2P',    'Two-person backpacking tent',            'Freestanding, 1.4 kg, two doors and two vestibules. Aluminium poles, 3000 mm fly.', 32900, 'EUR', 8),
    ('OUT-SLB-3S',    'Three-season sleeping bag',              'Synthetic fill, comfort rating 2 °C, packs to 20 × 35 cm.', 12900, 'EUR', 15),
    ('OUT-STV-GAS',   'Compact gas stove',                      'Screws onto any EN 417 canister; boils 1 l of water in about 4 minutes.', 3990, 'EUR', 50),
    ('OUT-BTL-750',   'Insulated bottle, 750 ml',               'Double-wall stainless steel: cold for 24 h, hot for 12 h. Leak-proof lid.', 2990, 'EUR', 200),
    ('OUT-HDL-400',   'Headlamp, 400 lumen',                    'Red light mode, IPX4, rechargeable; 60 h on low.', 4490, 'EUR', 70),
    ('OUT-PCK-45L',   'Hiking backpack, 45 l',                  'Adjustable back length, hip-belt pockets, rain cover included.', 15900, 'EUR', 10),
    ('HOM-MUG-350',   'Stoneware mug, 350 ml',                  'Hand-glazed, dishwasher and microwave safe. 100% of the time a coffee mug.', 1800, 'EUR', 150),
    ('HOM-TEA-SNC',   'Sencha green tea, 100 g',                'First flush Japanese sencha. Brew at 70 °C for one minute.', 1250, 'EUR', 90),
    ('GFT-CARD-50',   'Gift card, 50 EUR',                      'Redeemable for anything in the shop. Never expires.', 5000, 'EUR', 1000)
ON CONFLICT (sku) DO NOTHING;
