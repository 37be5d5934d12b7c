#!/usr/bin/env python3
# ruff: noqa: E501 - the templates below are data, one message per line
"""Build the support-triage data: test.jsonl, train.jsonl and train_chat.jsonl.

Customer-support messages for VoltCart, a fictional online electronics shop,
are composed from hand-written templates. Each template belongs to one
(category, priority) cell of the labelling rules in LABELING.md, so its
category and priority follow from the situation it describes; the sentiment
follows from the tone fragments the composer adds (template bodies are written
in a neutral, factual tone unless a template fixes its own tone).

Splitting is done by *template*: 3 of the 10 templates of every cell are
reserved for the test split and never used for training, so the test set
measures generalisation to unseen wordings rather than memorised sentences.

Everything is seeded, so running the script again reproduces the committed
files byte for byte:

    python3 suites/support-triage/build_data.py          # write the files
    python3 suites/support-triage/build_data.py --check  # verify they are up to date

Pure standard library (PyYAML, if importable, is only used to check that the
prompt template below matches suite.yaml).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = "evalkit-support-triage-v1"

CATEGORIES = ("billing", "technical", "shipping", "account", "refund")
PRIORITIES = ("urgent", "high", "medium", "low")
SENTIMENTS = ("positive", "neutral", "negative")

# Must equal `prompt_template` in suite.yaml (checked when PyYAML is present).
PROMPT_TEMPLATE = (
    "Classify this customer support message. Reply with only a JSON object with keys "
    "category (billing|technical|shipping|account|refund), priority (low|medium|high|urgent) "
    "and sentiment (positive|neutral|negative).\n\nMessage: {input}"
)

N_TEST_TEMPLATES = 3  # per cell, out of 10
# (negative, neutral, positive) samples per cell, by priority.
QUOTA_TRAIN = {"urgent": (11, 9, 0), "high": (9, 6, 5), "medium": (6, 6, 8), "low": (2, 6, 12)}
QUOTA_TEST = {"urgent": (4, 4, 0), "high": (3, 3, 2), "medium": (2, 3, 3), "low": (1, 2, 5)}

NEG, NEU, POS = "negative", "neutral", "positive"

# ---------------------------------------------------------------------------
# Templates: TEMPLATES[category][priority] = list of (body, tones or None).
# `tones=None` means the body is neutral and any tone allowed for the priority
# may be added; a tuple restricts the sentiments (the body carries the tone).
# Slots: {product} or {product:pool}, {product2}, {order}, {order2}, {amount},
# {days}, {date}, {weekday}, {time}, {city}, {carrier}, {code}, {giftcard},
# {last4}, {email}.
# ---------------------------------------------------------------------------

TEMPLATES: dict[str, dict[str, list[tuple[str, tuple[str, ...] | None]]]] = {
    "billing": {
        "urgent": [
            ("I was charged twice for order {order}. My bank statement shows two payments of {amount} on the same day. Please refund the duplicate charge.", None),
            ("There's a charge of {amount} from VoltCart on my card ending in {last4} that I didn't make. I haven't bought anything from you in months.", None),
            ("my card got billed {amount} two times for the same {product}, I only placed ONE order ({order})", None),
            ("A payment of {amount} went through on my card but I never got an order confirmation and there is no order in my account. Where did the money go?", None),
            ("Just saw three identical charges of {amount} from your store on my credit card. I clicked Pay once. The extra two need to be reversed.", None),
            ("I got a fraud alert from my bank about a {amount} payment to VoltCart. It wasn't me and my card never left my wallet. Please block it.", None),
            ("I need a corrected invoice for order {order} today. Our finance team closes the books at 5pm and the invoice you sent has the wrong company name on it.", None),
            ("The checkout page froze, and when I refreshed it I had been charged {amount} twice for order {order}.", None),
            ("My bank flagged a payment from VoltCart for {amount} at {time} last night. I was asleep and nobody else has my card. What is this charge?", None),
            ("Your system charged my card {amount} again this morning for order {order}, which I already paid for and received last month. Same amount, second charge.", None),
        ],
        "high": [
            ("I can't complete my order. Every time I click Pay the page says 'payment declined', even though my card works everywhere else. Tried three times.", None),
            ("Checkout keeps failing at the payment step for the {product}. I've tried two different cards and PayPal, same result.", None),
            ("Your site won't accept my card. It just says 'Something went wrong' at the last step, so I can't buy anything.", None),
            ("The Google Pay button does nothing on the checkout page and the card form gives error code P-402, so I'm stuck with a full cart and no way to pay.", None),
            ("The payment page keeps timing out, so I can't place the order for the {product}. My cart has been sitting there for two days.", None),
            ("I'm trying to pay the remaining balance on order {order} but the payment link in your email says it has expired, so the order is on hold.", None),
            ("Gift card {giftcard} is rejected at checkout as 'invalid' but it still has the full balance on it. I can't pay with it.", None),
            ("My instalment payment failed and now order {order} is on hold. I can't update the card because the 'Update payment' button gives an error.", None),
            ("Every time I enter my billing address the form says the postcode is invalid, so I can't finish paying for my order.", None),
            ("The bank verification window never loads at checkout, so the payment for my {product} never goes through.", None),
        ],
        "medium": [
            ("The promo code {code} didn't apply to order {order}. I should have got 15% off.", None),
            ("I was charged a $9.99 shipping fee on order {order}, but your site says shipping is free over $50 and my order was {amount}.", None),
            ("Could you send me an invoice with my company's VAT number on it for order {order}? The one in my account only shows my name.", None),
            ("The price of the {product} dropped by $20 two days after I bought it. Can you adjust the price on order {order}?", None),
            ("My receipt for order {order} includes sales tax, but we're a tax-exempt school and I uploaded the certificate when ordering. Please correct it.", None),
            ("I was charged {amount}, which is more than the cart total I saw. Looks like the bundle discount on the {product} wasn't applied.", None),
            ("please change the billing address on the invoice for order {order}, it still shows my old address", None),
            ("I paid for order {order} with a gift card plus my credit card, but the gift card balance wasn't used and my card was charged the full amount.", None),
            ("The student discount I signed up for isn't showing on my orders. My last purchase, {order}, was charged at full price.", None),
            ("Can I switch the payment method on my pending order {order} from card to PayPal before it ships?", None),
        ],
        "low": [
            ("Do you accept PayPal or only credit cards?", None),
            ("Is it possible to pay for the {product} in monthly instalments?", None),
            ("Where can I download invoices for my past orders?", None),
            ("Do your prices include VAT or is it added at checkout?", None),
            ("Can I use two gift cards on one order?", None),
            ("When is my card actually charged: when I place the order or when it ships?", None),
            ("Do you offer business accounts with invoice payment (net 30)?", None),
            ("how do i get a copy of a receipt from last year? need it for my tax return", None),
            ("Will my card be charged in euros or dollars if I order from Ireland?", None),
            ("Do you price match if another shop sells the {product} for less?", None),
        ],
    },
    "technical": {
        "urgent": [
            ("My {product:battery} got extremely hot while charging and there was a burning smell. I've unplugged it. Is it safe to use?", None),
            ("The battery in my {product:battery} has swollen and the back cover is bulging. What should I do?", None),
            ("Smoke came out of the charger for my {product:battery} when I plugged it in last night. There's a scorch mark on the socket.", None),
            ("The {product:powerbank} I bought from you (order {order}) started hissing and got too hot to touch.", None),
            ("I saw sparks at the charging port of my {product:battery} when I connected the cable.", None),
            ("I need my {product:laptop} working by this afternoon for a client presentation and since last night's update it's stuck on the boot logo.", None),
            ("The {product:mains} is making a loud buzzing noise and the plastic around the plug has started to melt.", None),
            ("My {product:battery} keeps shutting off and restarting by itself, and the case gets hot enough to burn my hand.", None),
            ("Our online exam starts at 3pm today and the {product:webcam} isn't detected by any computer we try. Please help quickly.", None),
            ("The power adapter of my {product:laptop} crackles and smells like burnt plastic when it's plugged in. I've stopped using it.", None),
        ],
        "high": [
            ("My new {product:battery} won't turn on at all. I charged it overnight and nothing happens, no lights.", None),
            ("The {product:screen} arrived today and the screen stays black, although I can hear the startup sound.", None),
            ("Since the firmware update yesterday my {product:audio} won't pair with any device, so I can't listen to anything.", None),
            ("The {product:laptop} is stuck in a restart loop. I can't get past the logo screen.", None),
            ("My {product:smart} doesn't show up in the app during setup. I've reset it five times and still can't use it.", None),
            ("None of the keys on my {product:laptop} work anymore. The keyboard stopped responding completely.", None),
            ("Brand new {product:screen} and the display is covered in vertical coloured lines. I can't read anything on it.", None),
            ("The charger that came with my {product:battery} doesn't charge it, so the battery is flat and I can't use it.", None),
            ("the {product:printer} shows 'Error E3' on startup and won't print anything at all (order {order})", None),
            ("I get nothing but static from my {product:audio}, no sound at all on either side.", None),
        ],
        "medium": [
            ("The Bluetooth connection on my {product:audio} drops every 20 minutes or so, then reconnects on its own.", None),
            ("Battery life on my {product:battery} is much shorter than advertised, around 4 hours instead of 10.", None),
            ("The app for my {product:smart} sometimes crashes when I open the schedule screen. Everything else works.", None),
            ("My {product:screen} has one dead pixel near the top corner. Not a disaster, but it's brand new.", None),
            ("On my {product:audio}, the left side is noticeably quieter than the right.", None),
            ("The Wi-Fi on my {product:laptop} disconnects a few times a day. Switching it off and on fixes it for a while.", None),
            ("The fan in my {product:laptop} gets really loud even when I'm just browsing.", None),
            ("Sometimes the touchscreen on my {product:touch} doesn't register taps along the bottom edge.", None),
            ("My {product:smart} loses the Wi-Fi connection overnight and I have to unplug and replug it every morning.", None),
            ("People on calls say my voice sounds muffled through the mic on my {product:audio}. Music playback is fine though.", None),
        ],
        "low": [
            ("How do I update the firmware on my {product:audio}?", None),
            ("Can the {product:laptop} drive a second monitor over USB-C?", None),
            ("Does the {product:smart} work with Alexa, or only with Google Home?", None),
            ("What's the safest way to clean the {product:audio}? Can I use alcohol wipes?", None),
            ("Will I be able to replace the battery in the {product:battery} myself later on?", None),
            ("Which charger wattage do you recommend for the {product:laptop}?", None),
            ("Is there a dark mode in the companion app for the {product:smart}?", None),
            ("How do I turn off the startup sound on my {product:laptop}?", None),
            ("Does the {product:monitor} support 120Hz?", None),
            ("can i connect two phones to the {product:audio} at the same time?", None),
        ],
    },
    "shipping": {
        "urgent": [
            ("Order {order} is out for delivery, but to my old address. I moved last week. Can you redirect it today before the driver gets there?", None),
            ("The {product} is a birthday present for tonight and tracking says it's still at the {carrier} depot. Is there any way to get it delivered today?", None),
            ("Please stop shipment of order {order} today. I entered the wrong address and it's due to leave your warehouse this afternoon.", None),
            ("I paid for same-day delivery on order {order}. It's now 6pm with no sign of it and I need it for an event tonight.", None),
            ("The courier left my parcel at number 14 instead of 41 and those neighbours are away. My {product} is sitting on a stranger's porch and someone needs to collect it today.", None),
            ("Tracking says the delivery attempt failed and the package goes back to the sender tomorrow morning. I need to rebook delivery today but your phone line is always busy.", None),
            ("Can you upgrade order {order} to express? I need the {product} by the end of today for work and it hasn't shipped yet.", None),
            ("I need to add a delivery note to order {order} today. The driver comes this afternoon and our building's door code has changed.", None),
            ("I'm leaving for a trip this evening and won't be home, so order {order} needs to go to the {carrier} pickup point instead. Please change it today.", None),
            ("The driver just called saying he can't find my address and will take order {order} back to the depot unless someone calls him within the hour. I don't have his number.", None),
        ],
        "high": [
            ("Order {order} was supposed to arrive on {date} and it still hasn't come. Tracking hasn't moved in a week.", None),
            ("Tracking says my package was delivered yesterday but there is nothing here. I've checked with the neighbours and the mailroom.", None),
            ("It's now {days} days past the estimated delivery date for my {product}. Where is it?", None),
            ("{carrier} says the parcel for order {order} was returned to sender. I never had a delivery attempt.", None),
            ("My order shows as delivered, but the photo in the tracking is of a door that isn't mine and I never received it.", None),
            ("still waiting on order {order}. the delivery window ended last {weekday} and nobody has told me anything", None),
            ("The tracking number you gave me for {order} doesn't work on the {carrier} site, and the order is already late.", None),
            ("I ordered the {product} with express shipping a week ago. It was due in 2 days and still nothing.", None),
            ("{carrier} has marked my package as lost. What happens now with order {order}?", None),
            ("Order {order} has been 'in transit' for three weeks. The estimated delivery was {date}.", None),
        ],
        "medium": [
            ("Tracking for {order} hasn't updated in 3 days and still says 'label created'. Has it actually shipped?", None),
            ("I received the {product:battery} but the charging cable listed in the box contents is missing.", None),
            ("You sent me the black version of the {product}, but I ordered white. Can you send the right one?", None),
            ("Can I change the delivery address for order {order}? It hasn't shipped yet. The new address is in {city}.", None),
            ("My order was split into two packages and only one has arrived so far. The second tracking number hasn't updated.", None),
            ("Order {order} arrived with only 2 of the 3 items. The packing slip lists the {product}, but it isn't in the box.", None),
            ("Could you combine my two open orders, {order} and {order2}, into one shipment?", None),
            ("Delivery for {order} got pushed back from Tuesday to Friday. That's still fine, but can you confirm it's actually on its way?", None),
            ("The parcel has my name on the label, but inside I found the {product2} instead of the {product} I ordered.", None),
            ("The {carrier} driver left my package with a neighbour without a note. I got it in the end, but please mark my address 'do not leave with neighbours' for future orders.", None),
        ],
        "low": [
            ("Do you ship to Canada, and how long does delivery usually take?", None),
            ("How much is express shipping to {city}?", None),
            ("Can I pick up my order from a store instead of having it delivered?", None),
            ("Which courier do you use for large items like TVs?", None),
            ("Do you deliver on Saturdays?", None),
            ("Is the {product} shipped from your own warehouse or from a supplier?", None),
            ("is it possible to ship to a parcel locker?", None),
            ("Do you use plastic-free packaging?", None),
            ("Just wanted to say my order came two days early and was really well packed. Great job!", (POS,)),
            ("Your delivery times have honestly gotten worse. My last few orders all took over a week. Just so you know.", (NEG,)),
        ],
    },
    "account": {
        "urgent": [
            ("Someone logged into my account and changed the email address. I got a notification, but it wasn't me.", None),
            ("There are two orders in my account that I didn't place, going to an address I don't recognise. I think my account has been hacked.", None),
            ("I just got a password reset email I didn't ask for, and now my password doesn't work anymore.", None),
            ("I got a login alert from {city} at {time}. I've never been there. Please lock my account.", None),
            ("My account name has been changed and my saved addresses are gone. Somebody else has access to my account.", None),
            ("I accidentally posted my account password in a public forum. Please lock the account right now until I can change it.", None),
            ("Someone is using my account to buy gift cards, I can see them appearing in my order history right now.", None),
            ("The two-factor codes for my account are being sent to a phone number that isn't mine. I never changed it.", None),
            ("I received an email about a new device signing in to my account that wasn't me, followed by an order confirmation ({product}) that I never placed.", None),
            ("Please freeze my account. My laptop, which was logged in to your site, was stolen this morning.", None),
        ],
        "high": [
            ("I can't log in to my account. It says my password is wrong and the reset email never arrives.", None),
            ("My account was locked after too many login attempts and it's still locked more than 24 hours later.", None),
            ("The login verification code never arrives by SMS, so I can't get into my account.", None),
            ("whenever i log in i get sent straight back to the login page. tried different browsers and cleared cookies", None),
            ("I changed phones and no longer have my authenticator app, so I can't log in.", None),
            ("Your site says 'account disabled' when I try to sign in. I have no idea why.", None),
            ("I can't access my account because it's registered to my old work email, which I no longer have.", None),
            ("The password reset link says 'token expired' every time I click it, even straight away.", None),
            ("I signed up yesterday but the activation link gives a 404 error, so I can't use my account.", None),
            ("Sign in with Google just spins forever, and I never set a password for my account, so I'm stuck.", None),
        ],
        "medium": [
            ("Please change the email on my account from {email} to my new address. I'm switching providers.", None),
            ("I accidentally created two accounts. Can you merge them so all my order history is in one place?", None),
            ("The settings page greys out the phone number used for two-factor login. Can you update it to my new number for me?", None),
            ("My order history only shows orders from this year. Older ones, like {order}, are missing.", None),
            ("Please delete my account and all of my personal data.", None),
            ("My saved address keeps reverting to an old one after I edit it.", None),
            ("I'd like to change the surname on my account, I recently got married.", None),
            ("The loyalty points for order {order} never showed up in my account.", None),
            ("My wishlist was emptied after I logged in on my new phone. Can you restore it?", None),
            ("I no longer get order confirmation emails, even though the email address in my account is correct.", None),
        ],
        "low": [
            ("How do I unsubscribe from your newsletter?", None),
            ("Can I save more than one delivery address in my account?", None),
            ("Where can I see my loyalty points balance?", None),
            ("Do I need an account to place an order, or can I check out as a guest?", None),
            ("How do I change the display name that shows on my product reviews?", None),
            ("Can my partner and I share one account, or should we each make our own?", None),
            ("Where do I turn off marketing emails but keep order updates?", None),
            ("what does the 'Gold member' badge on my account mean?", None),
            ("Love the new account dashboard, it's so much easier to find my orders now!", (POS,)),
            ("How long do you keep my data after I close my account?", None),
        ],
    },
    "refund": {
        "urgent": [
            ("The return window for order {order} closes today and the returns portal keeps giving an error. Please log my return before midnight.", None),
            ("The {carrier} drop-off for my return closes at 5pm today and the return label you sent is blank. I need a working label now.", None),
            ("Today is the last day to return the {product} and your returns form won't submit. I don't want to lose my refund.", None),
            ("Please cancel order {order} and refund me before it ships this afternoon. I ordered the wrong model of {product}.", None),
            ("My refund request for order {order} was rejected, and the email says the appeal deadline is today. I sent the item back unopened, please review it today.", None),
            ("Return window for the {product} ends today. Can you email me a return label right now so I can drop it off this afternoon?", None),
            ("The 'Return item' button has disappeared from order {order} in my account and today is the last day of the 30-day return period. Please approve the return today.", None),
            ("Can you issue a return number for order {order} today? My 14-day return window runs out tonight.", None),
            ("I was told on chat that the refund for {order} would be issued by end of day today, and it still says 'pending'. I need it done today.", None),
            ("I have to send back the {product} today, it's my last day to return it, but the return label email never arrived.", None),
        ],
        "high": [
            ("I returned the {product} {days} days ago and your warehouse confirmed receipt, but I still haven't been refunded. Your policy says 5 to 7 days.", None),
            ("The {product} arrived completely dead. I don't want a replacement, I want my money back.", None),
            ("The refund for order {order} was approved on {date}, but after three weeks nothing has shown up on my card.", None),
            ("The {product:screen} arrived with a cracked screen straight out of the box. Please give me a full refund.", None),
            ("You told me my refund was processed two weeks ago, but my bank says no refund was ever sent. Order {order}.", None),
            ("I sent back order {order} a month ago. Tracking shows it reached your returns centre, and I still have no refund and no reply.", None),
            ("Order {order} was cancelled before it shipped on {date}. You said the refund of {amount} would take 5 days, and it's now been three weeks.", None),
            ("The replacement {product} you sent is faulty as well. I'm done with this, please refund the full amount.", (NEG,)),
            ("The refund status for order {order} has said 'processing' for 25 days. Your website says refunds take up to 10 business days.", None),
            ("The {product:battery} has been unusable since day one, it won't even charge. I've already tried your troubleshooting steps. I want to return it for a full refund.", None),
        ],
        "medium": [
            ("I'd like to return the {product} from order {order}. It works fine, I just don't need it anymore. Can you send me a return label?", None),
            ("My refund for order {order} was $15 less than what I paid. Was a restocking fee taken off?", None),
            ("I'd like to return the {product}. I've only opened the box, it's unused and still within 30 days.", None),
            ("I want to swap the {product} for the bigger model and get the price difference refunded.", None),
            ("please start a return for order {order}, the {product} is too big for my desk", None),
            ("My refund went to my store credit balance instead of my credit card. Can you move it to the card?", None),
            ("I returned 2 items from order {order} but so far I've only been refunded for one of them.", None),
            ("I bought the {product} as a gift and it turns out they already have one. Please set up a return so I can get a refund.", None),
            ("The return label you emailed is for {carrier}, but there's no {carrier} drop-off near me. Could you send a different one?", None),
            ("I changed my mind about the {product}, it's still sealed. Can I get a refund to my card instead of store credit?", None),
        ],
        "low": [
            ("What's your return policy for opened headphones?", None),
            ("How long do refunds usually take to show up on a credit card?", None),
            ("Do I have to pay for return shipping?", None),
            ("Can I return something I bought in the Black Friday sale?", None),
            ("If I return an item I paid for with a gift card, where does the refund go?", None),
            ("Is the return window 14 or 30 days? Your FAQ and my receipt say different things.", None),
            ("Just wanted to say the refund for the {product} I returned came through in 2 days. Super smooth, thank you!", (POS,)),
            ("do you refund the original shipping fee when something is returned?", None),
            ("Can I return one item from a bundle, or does the whole bundle have to come back?", None),
            ("Are refunds paid in the original currency?", None),
        ],
    },
}

# ---------------------------------------------------------------------------
# Slot values
# ---------------------------------------------------------------------------

PRODUCTS = {
    "audio": ["Voltix Pro X2 earbuds", "Auralis Q30 headphones", "SoundPeak ANC 700 headphones",
              "Voltix Air earbuds", "Kestrel G5 gaming headset"],
    "laptop": ["Nimbus 14 laptop", "Nimbus 16 Pro laptop", "Pixelline Chromebook 14", "Corvex 15 gaming laptop"],
    "battery": ["Orion S5 phone", "Nimbus 14 laptop", "TabMax 10 tablet", "Pulse Fit 3 smartwatch",
                "ChargeMate 20000 power bank", "Voltix Pro X2 earbuds", "Orion S5 Lite phone"],
    "screen": ["Nordwave 55-inch 4K TV", "ClearView 27 monitor", "Nimbus 14 laptop", "TabMax 10 tablet",
               "Orion S5 phone", "Nordwave 43-inch TV"],
    "monitor": ["ClearView 27 monitor", "ClearView 32 Curve monitor", "Nordwave 55-inch 4K TV", "Corvex 15 gaming laptop"],
    "touch": ["Orion S5 phone", "TabMax 10 tablet", "Orion S5 Lite phone", "TabMax 8 Kids tablet"],
    "smart": ["HomeHub mini smart plug", "Lumos smart lamp", "Sentry 2K security camera", "Ringlet video doorbell",
              "AirSense smart thermostat"],
    "mains": ["HomeHub mini smart plug", "StreamBox 4K media player", "Auralis Home soundbar",
              "Nordwave 43-inch TV", "Inkwell 300 printer"],
    "powerbank": ["ChargeMate 20000 power bank", "ChargeMate 10000 power bank"],
    "printer": ["Inkwell 300 printer", "Inkwell 500 all-in-one printer"],
    "webcam": ["ClearCam HD webcam", "ClearCam 4K webcam"],
    "other": ["Kestrel wireless mouse", "Typeline mechanical keyboard", "Snapshot X100 camera",
              "SwiftDrive 1TB SSD", "StreamBox 4K media player", "Boomcube Mini speaker", "Auralis Home soundbar"],
}
ALL_PRODUCTS = sorted({p for pool in PRODUCTS.values() for p in pool})

NAMES = ["Maya", "Tom", "Priya", "Luis", "Hannah", "Kwame", "Sofia", "Dmitri", "Aisha", "Ben", "Chen", "Fatima",
         "Jonas", "Grace", "Mateo", "Yuki", "Olivia", "Sam", "Noah", "Ines", "Rahul", "Emma", "Tariq", "Lena"]
SURNAMES = ["Okafor", "Schmidt", "Patel", "Garcia", "Kowalski", "Nguyen", "Murphy", "Rossi", "Johansson", "Kim"]
CARRIERS = ["UPS", "FedEx", "DHL", "USPS", "DPD"]
CITIES = ["Denver", "Leeds", "Toronto", "Lyon", "Austin", "Warsaw", "Singapore", "Helsinki", "Porto", "Melbourne"]
DATES = ["March 3", "the 14th", "May 21", "June 9", "the 2nd", "October 17", "April 28", "the 9th"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
TIMES = ["2:14 am", "3:40 am", "11:52 pm", "4:05 am", "1:30 am"]
CODES = ["SPRING15", "WELCOME15", "VOLT15", "STUDENT15", "BUNDLE15"]

GREETINGS = ["Hi,", "Hello,", "Hi there,", "Hey,", "Good morning,", "Dear VoltCart support,", "Hi team,",
             "Hello VoltCart,", "Good afternoon,", "Hey there,"]
NEUTRAL_CLOSERS = ["Thanks.", "Thank you.", "Please let me know.", "Thanks in advance.", "Looking forward to your reply."]
NEUTRAL_CLOSERS_PROBLEM = ["Please advise.", "Let me know what you need from me.", "Waiting for your reply."]
SIGNOFFS = ["{name}", "- {name}", "Thanks,\n{name}", "Regards,\n{name} {surname}", "Best,\n{name}",
            "Sent from my phone", "Kind regards,\n{name} {surname}", "Cheers,\n{name}"]
# Tone fragments. Every third fragment of each pool is reserved for the test
# split (see `split_pool`), so sentiment is also tested on unseen phrasings.
POS_OPEN = ["First of all, I love your shop!", "Big fan of VoltCart, you've always been great.",
            "Hope you're having a lovely day! :)", "I've been really happy with everything I've bought from you so far.",
            "Your customer service has always been amazing, so I'm writing here first.",
            "You guys are my favourite electronics shop!", "Happy customer here, love what you do!",
            "I always recommend you to my friends, you're great.", "Hi! Loving VoltCart so far :)"]
POS_CLOSE = ["Thanks so much, you guys are awesome!", "Really appreciate your help, you're the best :)",
             "Keep up the great work!", "Thanks a lot, I'm really happy with your service overall!",
             "Have a great day and thank you! :)", "Appreciate it, VoltCart is my favourite shop!",
             "Many thanks, great service as always!", "Cheers, love your shop!", "You're wonderful, thank you!!"]
POS_CLOSE_PROBLEM = ["You've always been brilliant, so I'm sure you'll sort it out :)",
                     "I'm sure you'll sort it out, you always do. Thanks, you're great!",
                     "No stress, you've always been fantastic with these things :)"]
NEG_OPEN = ["I'm really frustrated right now.", "Honestly, this is ridiculous.", "Very disappointed with VoltCart.",
            "Not happy at all.", "I'm fed up.", "This is the worst experience I've had with an online shop.",
            "Seriously annoyed.", "I'm pretty upset, to be honest.", "Ugh, what a mess."]
NEG_CLOSE = ["This is completely unacceptable.", "Really disappointed, I expected better.",
             "Sort this out please, I'm losing my patience.", "Terrible service so far.",
             "I'm seriously considering never ordering from you again.", "Why is this so difficult??",
             "Not impressed.", "Awful experience.", "Disappointing, to say the least."]
TONE_POOLS = ("POS_OPEN", "POS_CLOSE", "POS_CLOSE_PROBLEM", "NEG_OPEN", "NEG_CLOSE")


def split_pool(pool: list[str], split: str) -> list[str]:
    """Every third fragment goes to test, the rest to train."""
    return [f for i, f in enumerate(pool) if (i % 3 == 0) == (split == "test")]


CONTEXT = ["I ordered it on {date}.", "My order number is {order}.", "Order: {order}", "This is for order {order}.",
           "I bought it from you on {date}."]

SLOT_RE = re.compile(r"\{(\w+)(?::(\w+))?\}")


class Composer:
    """Fills a template and wraps it in greeting / tone / sign-off fragments."""

    def __init__(self, rng: random.Random, split: str):
        self.rng = rng
        self.tones = {name: split_pool(globals()[name], split) for name in TONE_POOLS}

    def _order(self) -> str:
        n = self.rng.randint(100000, 999999)
        return self.rng.choice([f"#VC-{n}", f"VC{n}", f"#{n}", f"VC-{n}", f"{n}"])

    def _amount(self) -> str:
        dollars = self.rng.choice([24, 39, 49, 59, 79, 89, 129, 149, 199, 249, 349, 499, 899, 1199])
        cents = self.rng.choice(["99", "00", "95", "49"])
        return f"${dollars:,}.{cents}"

    def fill(self, text: str) -> str:
        values: dict[str, str] = {}

        def slot(match: re.Match) -> str:
            name, pool = match.group(1), match.group(2)
            key = f"{name}:{pool}" if pool else name
            if key not in values:
                values[key] = self._value(name, pool, values)
                if name == "product":
                    values["product"] = values[key]
            return values[key]

        return SLOT_RE.sub(slot, text)

    def _value(self, name: str, pool: str | None, values: dict[str, str]) -> str:
        rng = self.rng
        if name == "product":
            return rng.choice(PRODUCTS[pool] if pool else ALL_PRODUCTS)
        if name == "product2":
            return rng.choice([p for p in ALL_PRODUCTS if p != values.get("product")])
        if name in ("order", "order2"):
            return self._order()
        if name == "amount":
            return self._amount()
        if name == "days":
            return str(rng.randint(12, 30))
        if name == "date":
            return rng.choice(DATES)
        if name == "weekday":
            return rng.choice(WEEKDAYS)
        if name == "time":
            return rng.choice(TIMES)
        if name == "city":
            return rng.choice(CITIES)
        if name == "carrier":
            return rng.choice(CARRIERS)
        if name == "code":
            return rng.choice(CODES)
        if name == "giftcard":
            return "GC-" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(8))
        if name == "last4":
            return f"{rng.randint(0, 9999):04d}"
        if name == "email":
            return f"{rng.choice(NAMES).lower()}.{rng.choice(SURNAMES).lower()}@example.com"
        if name in ("name", "surname"):
            return rng.choice(NAMES if name == "name" else SURNAMES)
        raise KeyError(f"unknown slot {name!r}")

    def compose(self, template: str, sentiment: str, priority: str) -> str:
        rng = self.rng
        body = self.fill(template)
        # Optional context sentence for product problems that don't name an order yet.
        if priority != "low" and "{product" in template and "order" not in body.lower() and rng.random() < 0.3:
            body = body + " " + self.fill(rng.choice(CONTEXT))
        before: list[str] = []
        after: list[str] = []
        if sentiment == NEG:
            r = rng.random()
            if r < 0.4:
                before.append(rng.choice(self.tones["NEG_OPEN"]))
            elif r < 0.8:
                after.append(rng.choice(self.tones["NEG_CLOSE"]))
            else:
                before.append(rng.choice(self.tones["NEG_OPEN"]))
                after.append(rng.choice(self.tones["NEG_CLOSE"]))
        elif sentiment == POS:
            r = rng.random()
            closers = self.tones["POS_CLOSE"] + (self.tones["POS_CLOSE_PROBLEM"] if priority != "low" else [])
            if r < 0.4:
                before.append(rng.choice(self.tones["POS_OPEN"]))
            elif r < 0.85:
                after.append(rng.choice(closers))
            else:
                before.append(rng.choice(self.tones["POS_OPEN"]))
                after.append(rng.choice(closers))
        elif rng.random() < 0.5:
            after.append(rng.choice(NEUTRAL_CLOSERS + (NEUTRAL_CLOSERS_PROBLEM if priority != "low" else [])))
        core = " ".join(before + [body] + after)
        if sentiment == NEG and rng.random() < 0.2:
            core = core.rstrip(".") + "!!"
        parts: list[str] = []
        if rng.random() < 0.6:
            parts.append(rng.choice(GREETINGS))
        parts.append(core)
        text = (rng.choice(["\n\n", " ", "\n"]) if len(parts) > 1 else "").join(parts)
        if rng.random() < 0.45:
            sign = rng.choice(SIGNOFFS).format(name=rng.choice(NAMES), surname=rng.choice(SURNAMES))
            text += rng.choice(["\n\n", "\n"]) + sign
        if rng.random() < 0.22:
            text = self.typos(text)
        return text

    def typos(self, text: str) -> str:
        """Add one or two realistic typos; never touches tokens with digits."""
        rng = self.rng
        words = text.split(" ")
        candidates = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha() and w.islower()]
        for _ in range(rng.choice([1, 1, 2])):
            if not candidates:
                break
            i = rng.choice(candidates)
            w = words[i]
            op = rng.random()
            j = rng.randint(1, len(w) - 2)
            if op < 0.4:  # swap two letters
                w = w[:j] + w[j + 1] + w[j] + w[j + 2:]
            elif op < 0.7:  # drop a letter
                w = w[:j] + w[j + 1:]
            else:  # double a letter
                w = w[:j] + w[j] + w[j:]
            words[i] = w
        text = " ".join(words)
        if rng.random() < 0.3:
            text = text.replace("'", "")
        return text


def normalise(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]+", "", re.sub(r"\s+", " ", text.lower())).strip()


def build() -> tuple[list[dict], list[dict]]:
    train: list[dict] = []
    test: list[dict] = []
    seen: set[str] = set()
    for category in CATEGORIES:
        for priority in PRIORITIES:
            templates = TEMPLATES[category][priority]
            assert len(templates) == 10, (category, priority, len(templates))
            rng = random.Random(f"{SEED}/{category}/{priority}")
            order = list(range(len(templates)))
            rng.shuffle(order)
            test_idx = sorted(order[:N_TEST_TEMPLATES])
            train_idx = sorted(order[N_TEST_TEMPLATES:])
            for split, idx, quota, out in (
                ("test", test_idx, QUOTA_TEST[priority], test),
                ("train", train_idx, QUOTA_TRAIN[priority], train),
            ):
                composer = Composer(random.Random(f"{SEED}/{category}/{priority}/{split}"), split)
                wanted = [NEG] * quota[0] + [NEU] * quota[1] + [POS] * quota[2]
                uses = {i: 0 for i in idx}
                for sentiment in wanted:
                    allowed = [i for i in idx if templates[i][1] is None or sentiment in templates[i][1]]
                    if not allowed:
                        raise SystemExit(f"no {split} template in {category}/{priority} allows {sentiment}")
                    least = min(uses[i] for i in allowed)
                    tied = [i for i in allowed if uses[i] == least]
                    # Templates that fix their own tone are rarer: use them first.
                    tied = [i for i in tied if templates[i][1] is not None] or tied
                    pick = composer.rng.choice(tied)
                    uses[pick] += 1
                    for _attempt in range(50):
                        text = composer.compose(templates[pick][0], sentiment, priority)
                        key = normalise(text)
                        if key not in seen:
                            seen.add(key)
                            break
                    else:
                        raise SystemExit(f"could not make a unique message from {category}/{priority}/{pick}")
                    out.append({
                        "input": text,
                        "target": {"category": category, "priority": priority, "sentiment": sentiment},
                        "metadata": {"category": category, "priority": priority, "sentiment": sentiment,
                                     "template": f"{category}-{priority}-{pick + 1:02d}"},
                    })
    # Interleave cells so the files are not sorted by label, then number.
    for split, rows in (("test", test), ("train", train)):
        random.Random(f"{SEED}/shuffle/{split}").shuffle(rows)
        prefix = "st" if split == "test" else "st-train"
        for n, row in enumerate(rows, 1):
            row_id = f"{prefix}-{n:04d}"
            rows[n - 1] = {"id": row_id, **row}
    return train, test


def _shingles(text: str, n: int = 4) -> set[tuple[str, ...]]:
    words = normalise(text).split()
    return {tuple(words[i:i + n]) for i in range(max(1, len(words) - n + 1))}


def verify(train: list[dict], test: list[dict], max_overlap: float = 0.5) -> dict:
    """Check that the splits are disjoint; returns the numbers for the record.

    * no message occurs twice (after lower-casing and dropping punctuation);
    * no template and no held-out tone fragment of the test split occurs in train;
    * no test message shares more than `max_overlap` of its word 4-grams (Jaccard)
      with any train message.
    """
    keys = [normalise(r["input"]) for r in train + test]
    assert len(keys) == len(set(keys)), "duplicate messages"
    train_templates = {r["metadata"]["template"] for r in train}
    test_templates = {r["metadata"]["template"] for r in test}
    assert not train_templates & test_templates, "a template is in both splits"
    held_out = [f for name in TONE_POOLS for f in split_pool(globals()[name], "test")]
    leaked = [f for f in held_out if any(f in r["input"] for r in train)]
    assert not leaked, f"held-out tone fragments in train: {leaked}"
    train_sh = [_shingles(r["input"]) for r in train]
    worst = (0.0, "", "")
    for row in test:
        sh = _shingles(row["input"])
        for other, osh in zip(train, train_sh):
            jac = len(sh & osh) / len(sh | osh)
            if jac > worst[0]:
                worst = (jac, row["id"], other["id"])
    assert worst[0] <= max_overlap, f"near-duplicate across splits: {worst}"
    return {"train_templates": len(train_templates), "test_templates": len(test_templates),
            "max_4gram_jaccard": round(worst[0], 3), "closest_pair": worst[1:]}


def chat_rows(train: list[dict]) -> list[dict]:
    rows = []
    for row in train:
        answer = json.dumps({k: row["target"][k] for k in ("category", "priority", "sentiment")},
                            separators=(",", ":"))
        rows.append({"id": row["id"], "messages": [
            {"role": "user", "content": PROMPT_TEMPLATE.format(input=row["input"])},
            {"role": "assistant", "content": answer},
        ]})
    return rows


def check_prompt_matches_suite() -> None:
    try:
        import yaml
    except ImportError:
        return
    suite = yaml.safe_load((HERE / "suite.yaml").read_text(encoding="utf-8"))
    if suite.get("prompt_template") != PROMPT_TEMPLATE:
        raise SystemExit("PROMPT_TEMPLATE in build_data.py differs from suite.yaml's prompt_template")


def dumps(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="verify the committed files instead of writing")
    args = parser.parse_args(argv)
    check_prompt_matches_suite()
    train, test = build()
    stats = verify(train, test)
    outputs = {"test.jsonl": dumps(test), "train.jsonl": dumps(train), "train_chat.jsonl": dumps(chat_rows(train))}
    if args.check:
        stale = [n for n, text in outputs.items()
                 if not (HERE / n).is_file() or (HERE / n).read_text(encoding="utf-8") != text]
        if stale:
            print("out of date: " + ", ".join(stale), file=sys.stderr)
            return 1
        print(f"support-triage data is up to date; splits disjoint: {stats}")
        return 0
    for name, text in outputs.items():
        (HERE / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(test)} test and {len(train)} train samples to {HERE}")
    print(f"splits disjoint: {stats}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
