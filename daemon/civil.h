/* civil.h - proleptic Gregorian calendar arithmetic, free of timegm, TZ
 * and locale: the event parser's RFC 3339 times and the webhook sender's
 * Retry-After HTTP dates both reduce a date to seconds with it. */
#ifndef OUTREACH_CIVIL_H
#define OUTREACH_CIVIL_H

#include <stdint.h>

/* Days in month m (1..12) of year y. */
static inline int
civil_month_days(int64_t y, int m)
{
	static const int	days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30,
	    31, 30, 31 };

	if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
		return 29;
	return days[m - 1];
}

/* Days since 1970-01-01 of y-m-d (m 1..12): H. Hinnant's
 * days_from_civil. */
static inline int64_t
civil_days(int64_t y, int m, int d)
{
	int64_t	era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

#endif
