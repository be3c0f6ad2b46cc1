"""Obligatory tree planting (义务植树) fulfilled (尽责) by buying carbon-sink tickets.

The duty (national resolution of 1981, State Council rules of 1982) falls on able men aged 11 to 60 and able
women aged 11 to 55: three to five trees a year, or the equivalent. Donating money (捐资捐物) is one of the
recognised forms, converted by a *local* standard — so the conversion is data, set per year by back-office
staff (:class:`PlantingRule`), never a constant here. Without a rule for a year nothing is sold for that year.

Who gets which certificate (decided when a purchase is counted, i.e. when its order is fulfilled):

* outside the duty (by the age and sex in the ID number, or declared when no ID is given) → honour certificate
  (国土绿化荣誉证书);
* within the duty, and the year's purchases under the same ID number now reach the rule's trees per person →
  fulfilment certificate (全民义务植树尽责证书);
* within the duty but the year's duty was already fulfilled → honour certificate (given beyond the duty);
* within the duty, the year's total still short of the duty → honour certificate for the contribution; the
  trees count toward the year, and the purchase that completes the duty brings the fulfilment certificate.

"Age in year Y" is the age reached on the birthday in Y (Y − year of birth): a person owes the duty in the
year of the 11th birthday and still in the year of the 60th (men) or 55th (women), not in the year after.

Organisations (机关、企事业单位) upload a staff roster (:class:`RosterSubmission`, :class:`RosterMember`), pay
per batch of rows (:class:`RosterPayment`; late staff make a second payment for just them) and get a
fulfilment report. Its rate (尽责率) is::

    fulfilment rate = staff who fulfilled the year's duty ÷ staff owing the duty

where the staff are the roster's accepted rows; a row owes the duty unless its ID number puts the person
outside the ages (rows without an ID number are presumed to owe it: staff are of working age); a row has
fulfilled when its own purchase completed the duty, or when the same ID number fulfilled the year's duty
through any other purchase. Staff outside the duty are listed but in neither number.
"""

from planting.domain import book  # noqa: F401  (registers what the register reads of the duty)
