-- The current time as naive UTC, the warehouse's form of a timestamp (a column default).
(now() AT TIME ZONE 'UTC')
