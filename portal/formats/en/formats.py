# Dates as the staff pages write them (templates use "Y-m-d H:i:s", in UTC), so the admin and
# the portal agree. Django's own locale formats win over the DATETIME_FORMAT setting, hence a
# format module. Input formats stay Django's (they already accept these).
DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i:s"
DATETIME_FORMAT = "Y-m-d H:i:s"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
