package main

// The time zone database is linked in (about 450 KB) so that a schedule or deploy window with
// a CRON_TZ= prefix works where the system has no zoneinfo: ferry's image holds only the
// binary, passwd, group and CA certificates. A system zoneinfo, where there is one, still wins.
import _ "time/tzdata"
