-- impact outcomes: extraction date 2023-06-30, config {'allocation': 'earning_period', 'income_types': (101, 201, 202, 203, 205, 212, 213, 216, 218, 220, 221, 225, 227, 230, 232, 234, 235, 238), 'holiday_compensation': 'spread', 'employment_floor_eur': 500.0, 'employment_rule': 'floor', 'horizons': (1, 3, 6, 12), 'k_of_h': ((3, 6), (6, 12)), 'earnings_windows': ((1, 12), (13, 24)), 'return_windows': (3, 6, 12), 'segment_by': ('age_band', 'sex', 'education', 'employment_area'), 'age_bands': (0, 25, 30, 40, 50, 60), 'extraction_date': '2023-06-30', 'data_start': '2018-01-01', 'disclosure_min': 10, 'group_tables': ('service_type', 'provider_id', 'course_id', 'employment_area', 'municipality')}
-- constant table (68 rows)
CREATE OR REPLACE TEMPORARY TABLE "impact_const_4c68740bf6" AS
SELECT
  CAST("v"."month" AS INT) AS "month",
  CAST("v"."first_day" AS INT) AS "first_day",
  CAST("v"."last_day" AS INT) AS "last_day"
FROM (VALUES
  (24215, 17501, 17531),
  (24216, 17532, 17562),
  (24217, 17563, 17590),
  (24218, 17591, 17621),
  (24219, 17622, 17651),
  (24220, 17652, 17682),
  (24221, 17683, 17712),
  (24222, 17713, 17743),
  (24223, 17744, 17774),
  (24224, 17775, 17804),
  (24225, 17805, 17835),
  (24226, 17836, 17865),
  (24227, 17866, 17896),
  (24228, 17897, 17927),
  (24229, 17928, 17955),
  (24230, 17956, 17986),
  (24231, 17987, 18016),
  (24232, 18017, 18047),
  (24233, 18048, 18077),
  (24234, 18078, 18108),
  (24235, 18109, 18139),
  (24236, 18140, 18169),
  (24237, 18170, 18200),
  (24238, 18201, 18230),
  (24239, 18231, 18261),
  (24240, 18262, 18292),
  (24241, 18293, 18321),
  (24242, 18322, 18352),
  (24243, 18353, 18382),
  (24244, 18383, 18413),
  (24245, 18414, 18443),
  (24246, 18444, 18474),
  (24247, 18475, 18505),
  (24248, 18506, 18535),
  (24249, 18536, 18566),
  (24250, 18567, 18596),
  (24251, 18597, 18627),
  (24252, 18628, 18658),
  (24253, 18659, 18686),
  (24254, 18687, 18717),
  (24255, 18718, 18747),
  (24256, 18748, 18778),
  (24257, 18779, 18808),
  (24258, 18809, 18839),
  (24259, 18840, 18870),
  (24260, 18871, 18900),
  (24261, 18901, 18931),
  (24262, 18932, 18961),
  (24263, 18962, 18992),
  (24264, 18993, 19023),
  (24265, 19024, 19051),
  (24266, 19052, 19082),
  (24267, 19083, 19112),
  (24268, 19113, 19143),
  (24269, 19144, 19173),
  (24270, 19174, 19204),
  (24271, 19205, 19235),
  (24272, 19236, 19265),
  (24273, 19266, 19296),
  (24274, 19297, 19326),
  (24275, 19327, 19357),
  (24276, 19358, 19388),
  (24277, 19389, 19416),
  (24278, 19417, 19447),
  (24279, 19448, 19477),
  (24280, 19478, 19508),
  (24281, 19509, 19538),
  (24282, 19539, 19569)) AS "v"("month", "first_day", "last_day");

-- constant table (67 rows)
CREATE OR REPLACE TEMPORARY TABLE "impact_const_7298c604f7" AS
SELECT
  CAST("v"."month" AS INT) AS "month"
FROM (VALUES
  (24215),
  (24216),
  (24217),
  (24218),
  (24219),
  (24220),
  (24221),
  (24222),
  (24223),
  (24224),
  (24225),
  (24226),
  (24227),
  (24228),
  (24229),
  (24230),
  (24231),
  (24232),
  (24233),
  (24234),
  (24235),
  (24236),
  (24237),
  (24238),
  (24239),
  (24240),
  (24241),
  (24242),
  (24243),
  (24244),
  (24245),
  (24246),
  (24247),
  (24248),
  (24249),
  (24250),
  (24251),
  (24252),
  (24253),
  (24254),
  (24255),
  (24256),
  (24257),
  (24258),
  (24259),
  (24260),
  (24261),
  (24262),
  (24263),
  (24264),
  (24265),
  (24266),
  (24267),
  (24268),
  (24269),
  (24270),
  (24271),
  (24272),
  (24273),
  (24274),
  (24275),
  (24276),
  (24277),
  (24278),
  (24279),
  (24280),
  (24281)) AS "v"("month");

-- constant table (7 rows)
CREATE OR REPLACE TEMPORARY TABLE "impact_const_e889c24e91" AS
SELECT
  CAST("v"."year" AS INT) AS "year"
FROM (VALUES
  (2017),
  (2018),
  (2019),
  (2020),
  (2021),
  (2022),
  (2023)) AS "v"("year");

-- person_month
CREATE OR REPLACE TABLE "impact_person_month" AS
WITH "t0" AS (
  SELECT
    "t1"."person_id",
    "t1"."amount_eur",
    "t1"."subsidised",
    NOT (
      COALESCE("t1"."recovery", FALSE)
    ) AND (
      "t1"."amount_eur" > 0
    ) AS "wage",
    CAST(DATEDIFF(
      DAY,
      DATE_FROM_PARTS(1970, 1, 1),
      CASE
        WHEN (
          "t1"."earning_period_start" IS NOT NULL
        )
        AND (
          "t1"."earning_period_end" IS NOT NULL
        )
        THEN "t1"."earning_period_start"
        ELSE "t1"."pay_period_start"
      END
    ) AS INT) AS "d0",
    CAST(DATEDIFF(
      DAY,
      DATE_FROM_PARTS(1970, 1, 1),
      CASE
        WHEN (
          "t1"."earning_period_start" IS NOT NULL
        )
        AND (
          "t1"."earning_period_end" IS NOT NULL
        )
        THEN "t1"."earning_period_end"
        ELSE "t1"."pay_period_end"
      END
    ) AS INT) AS "d1",
    (
      (
        DATE_PART(
          year,
          CASE
            WHEN (
              "t1"."earning_period_start" IS NOT NULL
            )
            AND (
              "t1"."earning_period_end" IS NOT NULL
            )
            THEN "t1"."earning_period_start"
            ELSE "t1"."pay_period_start"
          END
        ) * 12
      ) + DATE_PART(
        month,
        CASE
          WHEN (
            "t1"."earning_period_start" IS NOT NULL
          )
          AND (
            "t1"."earning_period_end" IS NOT NULL
          )
          THEN "t1"."earning_period_start"
          ELSE "t1"."pay_period_start"
        END
      )
    ) - 1 AS "m0",
    (
      (
        DATE_PART(
          year,
          CASE
            WHEN (
              "t1"."earning_period_start" IS NOT NULL
            )
            AND (
              "t1"."earning_period_end" IS NOT NULL
            )
            THEN "t1"."earning_period_end"
            ELSE "t1"."pay_period_end"
          END
        ) * 12
      ) + DATE_PART(
        month,
        CASE
          WHEN (
            "t1"."earning_period_start" IS NOT NULL
          )
          AND (
            "t1"."earning_period_end" IS NOT NULL
          )
          THEN "t1"."earning_period_end"
          ELSE "t1"."pay_period_end"
        END
      )
    ) - 1 AS "m1"
  FROM (
    SELECT
      "t2".*
      EXCLUDE ("_latest", "_lp", "_lr", "_lv", "_sp_person")
    FROM (
      SELECT
        "t3"."report_id",
        "t3"."report_ref",
        "t3"."version",
        "t3"."action",
        "t3"."person_id",
        "t3"."payer_id",
        "t3"."payment_date",
        "t3"."pay_period_start",
        "t3"."pay_period_end",
        "t3"."earning_period_start",
        "t3"."earning_period_end",
        "t3"."income_type",
        "t3"."amount_eur",
        "t3"."subsidised",
        "t3"."recovery",
        "t3"."orig_payment_date",
        "t3"."_lp",
        "t3"."_lr",
        "t3"."_lv",
        "t3"."_latest",
        "t3"."_sp_person",
        CASE
          WHEN "t3"."version" < "t3"."_latest"
          THEN 'superseded_version'
          WHEN "t3"."action" = 'cancel'
          THEN 'cancelled_report'
          WHEN NOT (
            "t3"."income_type" IN (
              101,
              201,
              202,
              203,
              205,
              212,
              213,
              216,
              218,
              220,
              221,
              225,
              227,
              230,
              232,
              234,
              235,
              238
            )
          )
          THEN 'income_type_not_counted'
          WHEN "t3"."payment_date" > DATE_FROM_PARTS(2023, 6, 30)
          THEN 'paid_after_extraction'
          WHEN NOT (
            "t3"."_sp_person" IS NOT NULL
          )
          THEN 'person_without_spells'
          ELSE CAST(NULL AS VARCHAR)
        END AS "drop_rule"
      FROM (
        SELECT
          "t4"."report_id",
          "t4"."report_ref",
          "t4"."version",
          "t4"."action",
          "t4"."person_id",
          "t4"."payer_id",
          "t4"."payment_date",
          "t4"."pay_period_start",
          "t4"."pay_period_end",
          "t4"."earning_period_start",
          "t4"."earning_period_end",
          "t4"."income_type",
          "t4"."amount_eur",
          "t4"."subsidised",
          "t4"."recovery",
          "t4"."orig_payment_date",
          "t4"."_lp",
          "t4"."_lr",
          "t4"."_lv",
          "t4"."_latest",
          "t5"."_sp_person"
        FROM (
          SELECT
            "t6"."report_id",
            "t6"."report_ref",
            "t6"."version",
            "t6"."action",
            "t6"."person_id",
            "t6"."payer_id",
            "t6"."payment_date",
            "t6"."pay_period_start",
            "t6"."pay_period_end",
            "t6"."earning_period_start",
            "t6"."earning_period_end",
            "t6"."income_type",
            "t6"."amount_eur",
            "t6"."subsidised",
            "t6"."recovery",
            "t6"."orig_payment_date",
            "t6"."_lp",
            "t6"."_lr",
            "t6"."_lv",
            GREATEST("t6"."version", COALESCE("t6"."_lv", "t6"."version")) AS "_latest"
          FROM (
            SELECT
              "t7"."report_id",
              "t7"."report_ref",
              "t7"."version",
              "t7"."action",
              "t7"."person_id",
              "t7"."payer_id",
              "t7"."payment_date",
              "t7"."pay_period_start",
              "t7"."pay_period_end",
              "t7"."earning_period_start",
              "t7"."earning_period_end",
              "t7"."income_type",
              "t7"."amount_eur",
              "t7"."subsidised",
              "t7"."recovery",
              "t7"."orig_payment_date",
              "t8"."_lp",
              "t8"."_lr",
              "t8"."_lv"
            FROM "earnings_reports" AS "t7"
            LEFT OUTER JOIN (
              SELECT
                "t9"."payer_id" AS "_lp",
                "t9"."report_ref" AS "_lr",
                MAX("t9"."version") AS "_lv"
              FROM (
                SELECT
                  *
                FROM "earnings_reports" AS "t10"
                WHERE
                  "t10"."version" > 1
              ) AS "t9"
              GROUP BY
                1,
                2
            ) AS "t8"
              ON "t7"."payer_id" = "t8"."_lp" AND "t7"."report_ref" = "t8"."_lr"
          ) AS "t6"
        ) AS "t4"
        LEFT OUTER JOIN (
          SELECT DISTINCT
            "t11"."person_id" AS "_sp_person"
          FROM (
            SELECT DISTINCT
              *
            FROM (
              SELECT
                *
              FROM (
                SELECT
                  "t12"."person_id"
                FROM "service_spells" AS "t12"
              ) AS "t13"
              UNION ALL
              SELECT
                *
              FROM (
                SELECT
                  "t14"."person_id"
                FROM "jobseeking_spells" AS "t14"
              ) AS "t15"
            ) AS "t16"
          ) AS "t11"
        ) AS "t5"
          ON "t4"."person_id" = "t5"."_sp_person"
      ) AS "t3"
    ) AS "t2"
  ) AS "t1"
  WHERE
    "t1"."drop_rule" IS NULL
)
SELECT
  "t17"."person_id",
  "t17"."month",
  "t17"."earnings_eur",
  "t17"."subsidised_eur",
  (
    "t17"."earnings_eur" - "t17"."subsidised_eur"
  ) >= 499.995 AS "employed",
  "t17"."subsidised_eur" >= 499.995 AS "subsidised",
  "t17"."first_work_day"
FROM (
  SELECT
    "t18"."person_id",
    "t18"."month",
    SUM("t18"."amount") AS "earnings_eur",
    SUM(CASE WHEN "t18"."subsidised" THEN "t18"."amount" ELSE 0.0 END) AS "subsidised_eur",
    MAX(
      CASE
        WHEN "t18"."wage" AND NOT (
          "t18"."subsidised"
        ) AND "t18"."last_week"
        THEN 1
        ELSE 0
      END
    ) AS "lw_open",
    MAX(
      CASE
        WHEN "t18"."wage" AND "t18"."subsidised" AND "t18"."last_week"
        THEN 1
        ELSE 0
      END
    ) AS "lw_sub",
    MIN(
      CASE
        WHEN "t18"."wage" AND NOT (
          "t18"."subsidised"
        )
        THEN "t18"."work_day"
        ELSE CAST(NULL AS INT)
      END
    ) AS "first_work_day"
  FROM (
    SELECT
      *
    FROM (
      SELECT
        "t19"."person_id",
        "t20"."month",
        (
          "t19"."amount_eur" * CAST((
            LEAST("t19"."d1", "t20"."last_day") - GREATEST("t19"."d0", "t20"."first_day")
          ) + 1 AS DOUBLE)
        ) / CAST((
          "t19"."d1" - "t19"."d0"
        ) + 1 AS DOUBLE) AS "amount",
        "t19"."subsidised",
        "t19"."wage",
        GREATEST("t19"."d0", "t20"."first_day") AS "work_day",
        LEAST("t19"."d1", "t20"."last_day") >= (
          "t20"."last_day" - 6
        ) AS "last_week"
      FROM (
        SELECT
          *
        FROM "t0" AS "t21"
        WHERE
          "t21"."m0" = "t21"."m1"
      ) AS "t19"
      INNER JOIN "impact_const_4c68740bf6" AS "t20"
        ON "t19"."m0" = "t20"."month"
    ) AS "t22"
    UNION ALL
    SELECT
      *
    FROM (
      SELECT
        "t23"."person_id",
        "t20"."month",
        (
          "t23"."amount_eur" * CAST((
            LEAST("t23"."d1", "t20"."last_day") - GREATEST("t23"."d0", "t20"."first_day")
          ) + 1 AS DOUBLE)
        ) / CAST((
          "t23"."d1" - "t23"."d0"
        ) + 1 AS DOUBLE) AS "amount",
        "t23"."subsidised",
        "t23"."wage",
        GREATEST("t23"."d0", "t20"."first_day") AS "work_day",
        LEAST("t23"."d1", "t20"."last_day") >= (
          "t20"."last_day" - 6
        ) AS "last_week"
      FROM (
        SELECT
          *
        FROM "t0" AS "t21"
        WHERE
          "t21"."m0" <> "t21"."m1"
      ) AS "t23"
      INNER JOIN "impact_const_4c68740bf6" AS "t20"
        ON "t20"."month" >= "t23"."m0" AND "t20"."month" <= "t23"."m1"
    ) AS "t24"
  ) AS "t18"
  GROUP BY
    1,
    2
) AS "t17";

-- segment_baseline
CREATE OR REPLACE TABLE "impact_segment_baseline" AS
SELECT
  "t0"."age_band",
  "t0"."sex",
  "t0"."education",
  "t0"."employment_area",
  "t0"."month",
  SUM("t0"."base") OVER (
    PARTITION BY "t0"."age_band", "t0"."sex", "t0"."education", "t0"."employment_area"
    ORDER BY "t0"."month" ASC
    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
  ) AS "cum_base"
FROM (
  SELECT
    "t1"."age_band",
    "t1"."sex",
    "t1"."education",
    "t1"."employment_area",
    "t2"."month",
    COALESCE("t3"."earn", 0.0) / CAST("t1"."n_persons" AS DOUBLE) AS "base"
  FROM (
    SELECT
      "t4"."year",
      "t4"."sex",
      "t4"."education",
      "t4"."employment_area",
      CASE
        WHEN (
          "t4"."year" - CAST("t4"."birth_year" AS INT)
        ) >= 60
        THEN 60
        WHEN (
          "t4"."year" - CAST("t4"."birth_year" AS INT)
        ) >= 50
        THEN 50
        WHEN (
          "t4"."year" - CAST("t4"."birth_year" AS INT)
        ) >= 40
        THEN 40
        WHEN (
          "t4"."year" - CAST("t4"."birth_year" AS INT)
        ) >= 30
        THEN 30
        WHEN (
          "t4"."year" - CAST("t4"."birth_year" AS INT)
        ) >= 25
        THEN 25
        ELSE 0
      END AS "age_band",
      COUNT(*) AS "n_persons"
    FROM (
      SELECT
        "t5"."person_id",
        "t5"."birth_year",
        "t5"."sex",
        "t5"."education",
        "t5"."language",
        "t5"."municipality",
        "t5"."employment_area",
        "t6"."year"
      FROM "persons" AS "t5"
      CROSS JOIN "impact_const_e889c24e91" AS "t6"
    ) AS "t4"
    GROUP BY
      1,
      2,
      3,
      4,
      5
  ) AS "t1"
  INNER JOIN "impact_const_7298c604f7" AS "t2"
    ON "t1"."year" = CAST(CAST(FLOOR((
      "t2"."month"
    ) / (
      12
    )) AS BIGINT) AS INT)
  LEFT OUTER JOIN (
    SELECT
      "t7"."month" AS "s_month",
      "t7"."sex" AS "s_sex",
      "t7"."education" AS "s_education",
      "t7"."employment_area" AS "s_employment_area",
      "t7"."age_band" AS "s_age_band",
      "t7"."earn"
    FROM (
      SELECT
        "t8"."month",
        "t8"."sex",
        "t8"."education",
        "t8"."employment_area",
        CASE
          WHEN (
            CAST(CAST(FLOOR((
              "t8"."month"
            ) / (
              12
            )) AS BIGINT) AS INT) - CAST("t8"."birth_year" AS INT)
          ) >= 60
          THEN 60
          WHEN (
            CAST(CAST(FLOOR((
              "t8"."month"
            ) / (
              12
            )) AS BIGINT) AS INT) - CAST("t8"."birth_year" AS INT)
          ) >= 50
          THEN 50
          WHEN (
            CAST(CAST(FLOOR((
              "t8"."month"
            ) / (
              12
            )) AS BIGINT) AS INT) - CAST("t8"."birth_year" AS INT)
          ) >= 40
          THEN 40
          WHEN (
            CAST(CAST(FLOOR((
              "t8"."month"
            ) / (
              12
            )) AS BIGINT) AS INT) - CAST("t8"."birth_year" AS INT)
          ) >= 30
          THEN 30
          WHEN (
            CAST(CAST(FLOOR((
              "t8"."month"
            ) / (
              12
            )) AS BIGINT) AS INT) - CAST("t8"."birth_year" AS INT)
          ) >= 25
          THEN 25
          ELSE 0
        END AS "age_band",
        SUM("t8"."earnings_eur") AS "earn"
      FROM (
        SELECT
          "t9"."person_id",
          "t9"."month",
          "t9"."earnings_eur",
          "t9"."subsidised_eur",
          "t9"."employed",
          "t9"."subsidised",
          "t9"."first_work_day",
          "t10"."birth_year",
          "t10"."sex",
          "t10"."education",
          "t10"."language",
          "t10"."municipality",
          "t10"."employment_area"
        FROM (
          SELECT
            *
          FROM "impact_person_month" AS "t11"
          WHERE
            "t11"."month" >= 24215 AND "t11"."month" <= 24281
        ) AS "t9"
        INNER JOIN "persons" AS "t10"
          ON "t9"."person_id" = "t10"."person_id"
      ) AS "t8"
      GROUP BY
        1,
        2,
        3,
        4,
        5
    ) AS "t7"
  ) AS "t3"
    ON "t1"."age_band" = "t3"."s_age_band"
    AND "t1"."sex" = "t3"."s_sex"
    AND "t1"."education" = "t3"."s_education"
    AND "t1"."employment_area" = "t3"."s_employment_area"
    AND "t2"."month" = "t3"."s_month"
) AS "t0";

-- service_outcomes
CREATE OR REPLACE TABLE "impact_service_outcomes" AS
SELECT
  *
FROM (
  SELECT
    "t0".*
    EXCLUDE ("unit_id")
  FROM (
    SELECT
      "t1"."service_id",
      "t1"."person_id",
      "t1"."service_type",
      "t1"."start_date",
      "t1"."end_date",
      "t1"."end_reason",
      "t1"."provider_id",
      "t1"."course_id",
      "t1"."cost_eur",
      "t1"."unit_id",
      "t1"."end_month",
      "t1"."start_month",
      CASE
        WHEN (
          "t1"."end_month" IS NOT NULL
        )
        AND (
          (
            "t1"."end_month" + 1
          ) <= 24281
        )
        THEN COALESCE("t2"."w_emp1", 0) = 1
        ELSE CAST(NULL AS BOOLEAN)
      END AS "placed_1m",
      CASE
        WHEN (
          "t1"."end_month" IS NOT NULL
        )
        AND (
          (
            "t1"."end_month" + 3
          ) <= 24281
        )
        THEN COALESCE("t2"."w_emp3", 0) = 1
        ELSE CAST(NULL AS BOOLEAN)
      END AS "placed_3m",
      CASE
        WHEN (
          "t1"."end_month" IS NOT NULL
        )
        AND (
          (
            "t1"."end_month" + 6
          ) <= 24281
        )
        THEN COALESCE("t2"."w_emp6", 0) = 1
        ELSE CAST(NULL AS BOOLEAN)
      END AS "placed_6m",
      CASE
        WHEN (
          "t1"."end_month" IS NOT NULL
        )
        AND (
          (
            "t1"."end_month" + 12
          ) <= 24281
        )
        THEN COALESCE("t2"."w_emp12", 0) = 1
        ELSE CAST(NULL AS BOOLEAN)
      END AS "placed_12m",
      CASE
        WHEN (
          "t1"."end_month" IS NOT NULL
        )
        AND (
          (
            "t1"."end_month" + 6
          ) <= 24281
        )
        THEN COALESCE("t2"."w_nemp6", 0) >= 3
        ELSE CAST(NULL AS BOOLEAN)
      END AS "employed_3_of_6m",
      CASE
        WHEN (
          "t1"."end_month" IS NOT NULL
        )
        AND (
          (
            "t1"."end_month" + 12
          ) <= 24281
        )
        THEN COALESCE("t2"."w_nemp12", 0) >= 6
        ELSE CAST(NULL AS BOOLEAN)
      END AS "employed_6_of_12m",
      CASE
        WHEN (
          "t1"."end_month" IS NOT NULL
        )
        AND (
          (
            "t1"."end_month" + 12
          ) <= 24281
        )
        THEN COALESCE("t2"."w_earn1_12", 0.0) / 12
        ELSE CAST(NULL AS DOUBLE)
      END AS "earnings_1_12m",
      CASE
        WHEN (
          "t1"."end_month" IS NOT NULL
        )
        AND (
          (
            "t1"."end_month" + 24
          ) <= 24281
        )
        THEN COALESCE("t2"."w_earn13_24", 0.0) / 12
        ELSE CAST(NULL AS DOUBLE)
      END AS "earnings_13_24m",
      CAST(CASE
        WHEN "t3"."fe_month" IS NOT NULL
        THEN "t3"."fe_month" - "t1"."end_month"
        WHEN "t1"."end_month" IS NOT NULL
        THEN 24281 - "t1"."end_month"
        ELSE CAST(NULL AS INT)
      END AS INT) AS "months_to_employment",
      CASE
        WHEN "t1"."end_month" IS NOT NULL
        THEN NOT (
          "t3"."fe_month" IS NOT NULL
        )
        ELSE CAST(NULL AS BOOLEAN)
      END AS "censored",
      CAST(CASE
        WHEN "t3"."fe_month" IS NOT NULL
        THEN "t3"."fe_day" - CAST(DATEDIFF(DAY, DATE_FROM_PARTS(1970, 1, 1), "t1"."end_date") AS INT)
        ELSE CAST(NULL AS INT)
      END AS INT) AS "days_to_employment",
      CASE
        WHEN (
          "t3"."fe_month" IS NOT NULL
        )
        AND (
          (
            "t3"."fe_month" + 3
          ) <= 24281
        )
        THEN COALESCE("t4"."rt3", 0) = 1
        ELSE CAST(NULL AS BOOLEAN)
      END AS "returned_3m",
      CASE
        WHEN (
          "t3"."fe_month" IS NOT NULL
        )
        AND (
          (
            "t3"."fe_month" + 6
          ) <= 24281
        )
        THEN COALESCE("t4"."rt6", 0) = 1
        ELSE CAST(NULL AS BOOLEAN)
      END AS "returned_6m",
      CASE
        WHEN (
          "t3"."fe_month" IS NOT NULL
        )
        AND (
          (
            "t3"."fe_month" + 12
          ) <= 24281
        )
        THEN COALESCE("t4"."rt12", 0) = 1
        ELSE CAST(NULL AS BOOLEAN)
      END AS "returned_12m",
      CASE
        WHEN CASE
          WHEN (
            "t1"."end_month" IS NOT NULL
          )
          AND (
            (
              "t1"."end_month" + 12
            ) <= 24281
          )
          THEN COALESCE("t2"."w_earn1_12", 0.0) / 12
          ELSE CAST(NULL AS DOUBLE)
        END IS NOT NULL
        THEN "t5"."b1_12"
        ELSE CAST(NULL AS DOUBLE)
      END AS "baseline_1_12m",
      CASE
        WHEN CASE
          WHEN CASE
            WHEN (
              "t1"."end_month" IS NOT NULL
            )
            AND (
              (
                "t1"."end_month" + 12
              ) <= 24281
            )
            THEN COALESCE("t2"."w_earn1_12", 0.0) / 12
            ELSE CAST(NULL AS DOUBLE)
          END IS NOT NULL
          THEN "t5"."b1_12"
          ELSE CAST(NULL AS DOUBLE)
        END > 1e-06
        THEN CASE
          WHEN (
            "t1"."end_month" IS NOT NULL
          )
          AND (
            (
              "t1"."end_month" + 12
            ) <= 24281
          )
          THEN COALESCE("t2"."w_earn1_12", 0.0) / 12
          ELSE CAST(NULL AS DOUBLE)
        END / CASE
          WHEN CASE
            WHEN (
              "t1"."end_month" IS NOT NULL
            )
            AND (
              (
                "t1"."end_month" + 12
              ) <= 24281
            )
            THEN COALESCE("t2"."w_earn1_12", 0.0) / 12
            ELSE CAST(NULL AS DOUBLE)
          END IS NOT NULL
          THEN "t5"."b1_12"
          ELSE CAST(NULL AS DOUBLE)
        END
        ELSE CAST(NULL AS DOUBLE)
      END AS "rel_earnings_1_12m",
      CASE
        WHEN CASE
          WHEN (
            "t1"."end_month" IS NOT NULL
          )
          AND (
            (
              "t1"."end_month" + 24
            ) <= 24281
          )
          THEN COALESCE("t2"."w_earn13_24", 0.0) / 12
          ELSE CAST(NULL AS DOUBLE)
        END IS NOT NULL
        THEN "t5"."b13_24"
        ELSE CAST(NULL AS DOUBLE)
      END AS "baseline_13_24m",
      CASE
        WHEN CASE
          WHEN CASE
            WHEN (
              "t1"."end_month" IS NOT NULL
            )
            AND (
              (
                "t1"."end_month" + 24
              ) <= 24281
            )
            THEN COALESCE("t2"."w_earn13_24", 0.0) / 12
            ELSE CAST(NULL AS DOUBLE)
          END IS NOT NULL
          THEN "t5"."b13_24"
          ELSE CAST(NULL AS DOUBLE)
        END > 1e-06
        THEN CASE
          WHEN (
            "t1"."end_month" IS NOT NULL
          )
          AND (
            (
              "t1"."end_month" + 24
            ) <= 24281
          )
          THEN COALESCE("t2"."w_earn13_24", 0.0) / 12
          ELSE CAST(NULL AS DOUBLE)
        END / CASE
          WHEN CASE
            WHEN (
              "t1"."end_month" IS NOT NULL
            )
            AND (
              (
                "t1"."end_month" + 24
              ) <= 24281
            )
            THEN COALESCE("t2"."w_earn13_24", 0.0) / 12
            ELSE CAST(NULL AS DOUBLE)
          END IS NOT NULL
          THEN "t5"."b13_24"
          ELSE CAST(NULL AS DOUBLE)
        END
        ELSE CAST(NULL AS DOUBLE)
      END AS "rel_earnings_13_24m"
    FROM (
      SELECT
        "t6"."service_id",
        "t6"."person_id",
        "t6"."service_type",
        "t6"."start_date",
        "t6"."end_date",
        "t6"."end_reason",
        "t6"."provider_id",
        "t6"."course_id",
        "t6"."cost_eur",
        "t6"."service_id" AS "unit_id",
        (
          (
            DATE_PART(year, "t6"."end_date") * 12
          ) + DATE_PART(month, "t6"."end_date")
        ) - 1 AS "end_month",
        (
          (
            DATE_PART(year, "t6"."start_date") * 12
          ) + DATE_PART(month, "t6"."start_date")
        ) - 1 AS "start_month"
      FROM "service_spells" AS "t6"
      WHERE
        CASE
          WHEN "t6"."start_date" > DATE_FROM_PARTS(2023, 6, 30)
          THEN 'service_starts_after_extraction'
          WHEN "t6"."end_date" IS NULL
          THEN 'service_ongoing'
          WHEN "t6"."end_date" > DATE_FROM_PARTS(2023, 6, 30)
          THEN 'service_ends_after_extraction'
          ELSE CAST(NULL AS VARCHAR)
        END IS NULL
    ) AS "t1"
    LEFT OUTER JOIN (
      SELECT
        "t7"."w_unit",
        MAX(
          CASE
            WHEN (
              (
                "t7"."month" - "t7"."e"
              ) = 1
            ) AND "t7"."employed"
            THEN 1
            ELSE 0
          END
        ) AS "w_emp1",
        MAX(
          CASE
            WHEN (
              (
                "t7"."month" - "t7"."e"
              ) = 3
            ) AND "t7"."employed"
            THEN 1
            ELSE 0
          END
        ) AS "w_emp3",
        MAX(
          CASE
            WHEN (
              (
                "t7"."month" - "t7"."e"
              ) = 6
            ) AND "t7"."employed"
            THEN 1
            ELSE 0
          END
        ) AS "w_emp6",
        MAX(
          CASE
            WHEN (
              (
                "t7"."month" - "t7"."e"
              ) = 12
            ) AND "t7"."employed"
            THEN 1
            ELSE 0
          END
        ) AS "w_emp12",
        SUM(
          CASE
            WHEN (
              (
                "t7"."month" - "t7"."e"
              ) <= 6
            ) AND "t7"."employed"
            THEN 1
            ELSE 0
          END
        ) AS "w_nemp6",
        SUM(
          CASE
            WHEN (
              (
                "t7"."month" - "t7"."e"
              ) <= 12
            ) AND "t7"."employed"
            THEN 1
            ELSE 0
          END
        ) AS "w_nemp12",
        SUM(
          CASE
            WHEN (
              (
                "t7"."month" - "t7"."e"
              ) >= 1
            )
            AND (
              (
                "t7"."month" - "t7"."e"
              ) <= 12
            )
            THEN "t7"."earnings_eur"
            ELSE 0.0
          END
        ) AS "w_earn1_12",
        SUM(
          CASE
            WHEN (
              (
                "t7"."month" - "t7"."e"
              ) >= 13
            )
            AND (
              (
                "t7"."month" - "t7"."e"
              ) <= 24
            )
            THEN "t7"."earnings_eur"
            ELSE 0.0
          END
        ) AS "w_earn13_24"
      FROM (
        SELECT
          "t8"."w_unit",
          "t8"."w_person",
          "t8"."e",
          "t9"."person_id",
          "t9"."month",
          "t9"."earnings_eur",
          "t9"."subsidised_eur",
          "t9"."employed",
          "t9"."subsidised",
          "t9"."first_work_day"
        FROM (
          SELECT
            "t6"."service_id" AS "w_unit",
            "t6"."person_id" AS "w_person",
            (
              (
                DATE_PART(year, "t6"."end_date") * 12
              ) + DATE_PART(month, "t6"."end_date")
            ) - 1 AS "e"
          FROM "service_spells" AS "t6"
          WHERE
            CASE
              WHEN "t6"."start_date" > DATE_FROM_PARTS(2023, 6, 30)
              THEN 'service_starts_after_extraction'
              WHEN "t6"."end_date" IS NULL
              THEN 'service_ongoing'
              WHEN "t6"."end_date" > DATE_FROM_PARTS(2023, 6, 30)
              THEN 'service_ends_after_extraction'
              ELSE CAST(NULL AS VARCHAR)
            END IS NULL
            AND (
              (
                (
                  DATE_PART(year, "t6"."end_date") * 12
                ) + DATE_PART(month, "t6"."end_date")
              ) - 1
            ) IS NOT NULL
        ) AS "t8"
        INNER JOIN (
          SELECT
            *
          FROM "impact_person_month" AS "t10"
          WHERE
            "t10"."month" <= 24281
        ) AS "t9"
          ON "t8"."w_person" = "t9"."person_id"
          AND "t9"."month" >= (
            "t8"."e" + 1
          )
          AND "t9"."month" <= (
            "t8"."e" + 24
          )
      ) AS "t7"
      GROUP BY
        1
    ) AS "t2"
      ON "t1"."unit_id" = "t2"."w_unit"
    LEFT OUTER JOIN (
      SELECT
        "t11"."fu" AS "fe_unit",
        "t11"."fp" AS "fe_person",
        "t11"."ff" AS "fe_month",
        "t12"."ed" AS "fe_day"
      FROM (
        SELECT
          "t13"."fu",
          "t13"."fp",
          MIN("t13"."month") AS "ff"
        FROM (
          SELECT
            "t14"."fu",
            "t14"."fp",
            "t14"."fo",
            "t15"."person_id",
            "t15"."month",
            "t15"."first_work_day"
          FROM (
            SELECT
              *
            FROM (
              SELECT
                "t6"."service_id" AS "fu",
                "t6"."person_id" AS "fp",
                (
                  (
                    DATE_PART(year, "t6"."end_date") * 12
                  ) + DATE_PART(month, "t6"."end_date")
                ) - 1 AS "fo"
              FROM "service_spells" AS "t6"
              WHERE
                CASE
                  WHEN "t6"."start_date" > DATE_FROM_PARTS(2023, 6, 30)
                  THEN 'service_starts_after_extraction'
                  WHEN "t6"."end_date" IS NULL
                  THEN 'service_ongoing'
                  WHEN "t6"."end_date" > DATE_FROM_PARTS(2023, 6, 30)
                  THEN 'service_ends_after_extraction'
                  ELSE CAST(NULL AS VARCHAR)
                END IS NULL
            ) AS "t16"
            WHERE
              "t16"."fo" IS NOT NULL
          ) AS "t14"
          INNER JOIN (
            SELECT
              "t10"."person_id",
              "t10"."month",
              "t10"."first_work_day"
            FROM "impact_person_month" AS "t10"
            WHERE
              "t10"."month" <= 24281 AND "t10"."employed"
          ) AS "t15"
            ON "t14"."fp" = "t15"."person_id" AND "t15"."month" > "t14"."fo"
        ) AS "t13"
        GROUP BY
          1,
          2
      ) AS "t11"
      INNER JOIN (
        SELECT
          "t10"."person_id" AS "ep",
          "t10"."month" AS "em",
          "t10"."first_work_day" AS "ed"
        FROM "impact_person_month" AS "t10"
        WHERE
          "t10"."month" <= 24281 AND "t10"."employed"
      ) AS "t12"
        ON "t11"."fp" = "t12"."ep" AND "t11"."ff" = "t12"."em"
    ) AS "t3"
      ON "t1"."unit_id" = "t3"."fe_unit"
    LEFT OUTER JOIN (
      SELECT
        "t17"."fe_unit" AS "rt_unit",
        MAX(CASE WHEN "t17"."s_month" <= (
          "t17"."fe_month" + 3
        ) THEN 1 ELSE 0 END) AS "rt3",
        MAX(CASE WHEN "t17"."s_month" <= (
          "t17"."fe_month" + 6
        ) THEN 1 ELSE 0 END) AS "rt6",
        MAX(CASE WHEN "t17"."s_month" <= (
          "t17"."fe_month" + 12
        ) THEN 1 ELSE 0 END) AS "rt12"
      FROM (
        SELECT
          "t11"."fu" AS "fe_unit",
          "t11"."fp" AS "fe_person",
          "t11"."ff" AS "fe_month",
          "t12"."ed" AS "fe_day",
          "t18"."s_person",
          "t18"."s_month"
        FROM (
          SELECT
            "t13"."fu",
            "t13"."fp",
            MIN("t13"."month") AS "ff"
          FROM (
            SELECT
              "t14"."fu",
              "t14"."fp",
              "t14"."fo",
              "t15"."person_id",
              "t15"."month",
              "t15"."first_work_day"
            FROM (
              SELECT
                *
              FROM (
                SELECT
                  "t6"."service_id" AS "fu",
                  "t6"."person_id" AS "fp",
                  (
                    (
                      DATE_PART(year, "t6"."end_date") * 12
                    ) + DATE_PART(month, "t6"."end_date")
                  ) - 1 AS "fo"
                FROM "service_spells" AS "t6"
                WHERE
                  CASE
                    WHEN "t6"."start_date" > DATE_FROM_PARTS(2023, 6, 30)
                    THEN 'service_starts_after_extraction'
                    WHEN "t6"."end_date" IS NULL
                    THEN 'service_ongoing'
                    WHEN "t6"."end_date" > DATE_FROM_PARTS(2023, 6, 30)
                    THEN 'service_ends_after_extraction'
                    ELSE CAST(NULL AS VARCHAR)
                  END IS NULL
              ) AS "t16"
              WHERE
                "t16"."fo" IS NOT NULL
            ) AS "t14"
            INNER JOIN (
              SELECT
                "t10"."person_id",
                "t10"."month",
                "t10"."first_work_day"
              FROM "impact_person_month" AS "t10"
              WHERE
                "t10"."month" <= 24281 AND "t10"."employed"
            ) AS "t15"
              ON "t14"."fp" = "t15"."person_id" AND "t15"."month" > "t14"."fo"
          ) AS "t13"
          GROUP BY
            1,
            2
        ) AS "t11"
        INNER JOIN (
          SELECT
            "t10"."person_id" AS "ep",
            "t10"."month" AS "em",
            "t10"."first_work_day" AS "ed"
          FROM "impact_person_month" AS "t10"
          WHERE
            "t10"."month" <= 24281 AND "t10"."employed"
        ) AS "t12"
          ON "t11"."fp" = "t12"."ep" AND "t11"."ff" = "t12"."em"
        INNER JOIN (
          SELECT
            "t19"."person_id" AS "s_person",
            (
              (
                DATE_PART(year, "t19"."start_date") * 12
              ) + DATE_PART(month, "t19"."start_date")
            ) - 1 AS "s_month"
          FROM (
            SELECT
              "t20"."person_id",
              "t20"."spell_id",
              "t20"."start_date",
              "t20"."end_date",
              "t20"."status_at_start",
              "t20"."end_reason",
              "t20"."segment",
              "t20"."municipality",
              CASE
                WHEN "t20"."start_date" > DATE_FROM_PARTS(2023, 6, 30)
                THEN 'spell_starts_after_extraction'
                WHEN (
                  "t20"."end_date" IS NOT NULL
                )
                AND (
                  "t20"."end_date" > DATE_FROM_PARTS(2023, 6, 30)
                )
                THEN 'spell_ends_after_extraction'
                ELSE CAST(NULL AS VARCHAR)
              END AS "drop_rule"
            FROM "jobseeking_spells" AS "t20"
          ) AS "t19"
          WHERE
            "t19"."drop_rule" IS NULL
        ) AS "t18"
          ON "t11"."fp" = "t18"."s_person"
          AND "t18"."s_month" >= (
            "t11"."ff" + 1
          )
          AND "t18"."s_month" <= (
            "t11"."ff" + 12
          )
      ) AS "t17"
      GROUP BY
        1
    ) AS "t4"
      ON "t1"."unit_id" = "t4"."rt_unit"
    LEFT OUTER JOIN (
      SELECT
        "t21"."c_unit" AS "b_unit",
        (
          "t22"."hi1_12_cum" - "t23"."lo1_12_cum"
        ) / 12 AS "b1_12",
        (
          "t24"."hi13_24_cum" - "t25"."lo13_24_cum"
        ) / 12 AS "b13_24"
      FROM (
        SELECT
          "t26"."c_unit",
          "t26"."c_pid",
          "t26"."c_end",
          "t26"."c_year",
          "t26"."c_person",
          "t26"."c_birth",
          "t26"."c_sex",
          "t26"."c_education",
          "t26"."c_employment_area",
          CASE
            WHEN (
              "t26"."c_year" - CAST("t26"."c_birth" AS INT)
            ) >= 60
            THEN 60
            WHEN (
              "t26"."c_year" - CAST("t26"."c_birth" AS INT)
            ) >= 50
            THEN 50
            WHEN (
              "t26"."c_year" - CAST("t26"."c_birth" AS INT)
            ) >= 40
            THEN 40
            WHEN (
              "t26"."c_year" - CAST("t26"."c_birth" AS INT)
            ) >= 30
            THEN 30
            WHEN (
              "t26"."c_year" - CAST("t26"."c_birth" AS INT)
            ) >= 25
            THEN 25
            ELSE 0
          END AS "c_age_band"
        FROM (
          SELECT
            "t27"."c_unit",
            "t27"."c_pid",
            "t27"."c_end",
            "t27"."c_year",
            "t28"."c_person",
            "t28"."c_birth",
            "t28"."c_sex",
            "t28"."c_education",
            "t28"."c_employment_area"
          FROM (
            SELECT
              *
            FROM (
              SELECT
                "t6"."service_id" AS "c_unit",
                "t6"."person_id" AS "c_pid",
                (
                  (
                    DATE_PART(year, "t6"."end_date") * 12
                  ) + DATE_PART(month, "t6"."end_date")
                ) - 1 AS "c_end",
                DATE_PART(year, "t6"."end_date") AS "c_year"
              FROM "service_spells" AS "t6"
              WHERE
                CASE
                  WHEN "t6"."start_date" > DATE_FROM_PARTS(2023, 6, 30)
                  THEN 'service_starts_after_extraction'
                  WHEN "t6"."end_date" IS NULL
                  THEN 'service_ongoing'
                  WHEN "t6"."end_date" > DATE_FROM_PARTS(2023, 6, 30)
                  THEN 'service_ends_after_extraction'
                  ELSE CAST(NULL AS VARCHAR)
                END IS NULL
            ) AS "t29"
            WHERE
              "t29"."c_end" IS NOT NULL
          ) AS "t27"
          INNER JOIN (
            SELECT
              "t30"."person_id" AS "c_person",
              "t30"."birth_year" AS "c_birth",
              "t30"."sex" AS "c_sex",
              "t30"."education" AS "c_education",
              "t30"."employment_area" AS "c_employment_area"
            FROM "persons" AS "t30"
          ) AS "t28"
            ON "t27"."c_pid" = "t28"."c_person"
        ) AS "t26"
      ) AS "t21"
      LEFT OUTER JOIN (
        SELECT
          "t31"."age_band" AS "lo1_12_age_band",
          "t31"."sex" AS "lo1_12_sex",
          "t31"."education" AS "lo1_12_education",
          "t31"."employment_area" AS "lo1_12_employment_area",
          "t31"."month" AS "lo1_12_month",
          "t31"."cum_base" AS "lo1_12_cum"
        FROM "impact_segment_baseline" AS "t31"
      ) AS "t23"
        ON "t21"."c_age_band" = "t23"."lo1_12_age_band"
        AND "t21"."c_sex" = "t23"."lo1_12_sex"
        AND "t21"."c_education" = "t23"."lo1_12_education"
        AND "t21"."c_employment_area" = "t23"."lo1_12_employment_area"
        AND (
          "t21"."c_end" + 0
        ) = "t23"."lo1_12_month"
      LEFT OUTER JOIN (
        SELECT
          "t31"."age_band" AS "hi1_12_age_band",
          "t31"."sex" AS "hi1_12_sex",
          "t31"."education" AS "hi1_12_education",
          "t31"."employment_area" AS "hi1_12_employment_area",
          "t31"."month" AS "hi1_12_month",
          "t31"."cum_base" AS "hi1_12_cum"
        FROM "impact_segment_baseline" AS "t31"
      ) AS "t22"
        ON "t21"."c_age_band" = "t22"."hi1_12_age_band"
        AND "t21"."c_sex" = "t22"."hi1_12_sex"
        AND "t21"."c_education" = "t22"."hi1_12_education"
        AND "t21"."c_employment_area" = "t22"."hi1_12_employment_area"
        AND (
          "t21"."c_end" + 12
        ) = "t22"."hi1_12_month"
      LEFT OUTER JOIN (
        SELECT
          "t31"."age_band" AS "lo13_24_age_band",
          "t31"."sex" AS "lo13_24_sex",
          "t31"."education" AS "lo13_24_education",
          "t31"."employment_area" AS "lo13_24_employment_area",
          "t31"."month" AS "lo13_24_month",
          "t31"."cum_base" AS "lo13_24_cum"
        FROM "impact_segment_baseline" AS "t31"
      ) AS "t25"
        ON "t21"."c_age_band" = "t25"."lo13_24_age_band"
        AND "t21"."c_sex" = "t25"."lo13_24_sex"
        AND "t21"."c_education" = "t25"."lo13_24_education"
        AND "t21"."c_employment_area" = "t25"."lo13_24_employment_area"
        AND (
          "t21"."c_end" + 12
        ) = "t25"."lo13_24_month"
      LEFT OUTER JOIN (
        SELECT
          "t31"."age_band" AS "hi13_24_age_band",
          "t31"."sex" AS "hi13_24_sex",
          "t31"."education" AS "hi13_24_education",
          "t31"."employment_area" AS "hi13_24_employment_area",
          "t31"."month" AS "hi13_24_month",
          "t31"."cum_base" AS "hi13_24_cum"
        FROM "impact_segment_baseline" AS "t31"
      ) AS "t24"
        ON "t21"."c_age_band" = "t24"."hi13_24_age_band"
        AND "t21"."c_sex" = "t24"."hi13_24_sex"
        AND "t21"."c_education" = "t24"."hi13_24_education"
        AND "t21"."c_employment_area" = "t24"."hi13_24_employment_area"
        AND (
          "t21"."c_end" + 24
        ) = "t24"."hi13_24_month"
    ) AS "t5"
      ON "t1"."unit_id" = "t5"."b_unit"
  ) AS "t0"
) AS "t32"
ORDER BY
  "t32"."service_id" ASC;

-- spell_outcomes
CREATE OR REPLACE TABLE "impact_spell_outcomes" AS
WITH "t0" AS (
  SELECT
    "t1"."person_id",
    "t1"."spell_id",
    "t1"."start_date",
    "t1"."end_date",
    "t1"."status_at_start",
    "t1"."end_reason",
    "t1"."segment",
    "t1"."municipality",
    CASE
      WHEN "t1"."start_date" > DATE_FROM_PARTS(2023, 6, 30)
      THEN 'spell_starts_after_extraction'
      WHEN (
        "t1"."end_date" IS NOT NULL
      )
      AND (
        "t1"."end_date" > DATE_FROM_PARTS(2023, 6, 30)
      )
      THEN 'spell_ends_after_extraction'
      ELSE CAST(NULL AS VARCHAR)
    END AS "drop_rule"
  FROM "jobseeking_spells" AS "t1"
)
SELECT
  *
FROM (
  SELECT
    "t2".*
    EXCLUDE ("unit_id")
  FROM (
    SELECT
      "t3"."spell_id",
      "t3"."person_id",
      "t3"."start_date",
      "t3"."end_date",
      "t3"."status_at_start",
      "t3"."end_reason",
      "t3"."segment",
      "t3"."municipality",
      "t3"."unit_id",
      "t3"."end_month",
      "t3"."start_month",
      CASE
        WHEN (
          "t3"."end_month" IS NOT NULL
        )
        AND (
          (
            "t3"."end_month" + 1
          ) <= 24281
        )
        THEN COALESCE("t4"."w_emp1", 0) = 1
        ELSE CAST(NULL AS BOOLEAN)
      END AS "placed_1m",
      CASE
        WHEN (
          "t3"."end_month" IS NOT NULL
        )
        AND (
          (
            "t3"."end_month" + 3
          ) <= 24281
        )
        THEN COALESCE("t4"."w_emp3", 0) = 1
        ELSE CAST(NULL AS BOOLEAN)
      END AS "placed_3m",
      CASE
        WHEN (
          "t3"."end_month" IS NOT NULL
        )
        AND (
          (
            "t3"."end_month" + 6
          ) <= 24281
        )
        THEN COALESCE("t4"."w_emp6", 0) = 1
        ELSE CAST(NULL AS BOOLEAN)
      END AS "placed_6m",
      CASE
        WHEN (
          "t3"."end_month" IS NOT NULL
        )
        AND (
          (
            "t3"."end_month" + 12
          ) <= 24281
        )
        THEN COALESCE("t4"."w_emp12", 0) = 1
        ELSE CAST(NULL AS BOOLEAN)
      END AS "placed_12m",
      CASE
        WHEN (
          "t3"."end_month" IS NOT NULL
        )
        AND (
          (
            "t3"."end_month" + 6
          ) <= 24281
        )
        THEN COALESCE("t4"."w_nemp6", 0) >= 3
        ELSE CAST(NULL AS BOOLEAN)
      END AS "employed_3_of_6m",
      CASE
        WHEN (
          "t3"."end_month" IS NOT NULL
        )
        AND (
          (
            "t3"."end_month" + 12
          ) <= 24281
        )
        THEN COALESCE("t4"."w_nemp12", 0) >= 6
        ELSE CAST(NULL AS BOOLEAN)
      END AS "employed_6_of_12m",
      CASE
        WHEN (
          "t3"."end_month" IS NOT NULL
        )
        AND (
          (
            "t3"."end_month" + 12
          ) <= 24281
        )
        THEN COALESCE("t4"."w_earn1_12", 0.0) / 12
        ELSE CAST(NULL AS DOUBLE)
      END AS "earnings_1_12m",
      CASE
        WHEN (
          "t3"."end_month" IS NOT NULL
        )
        AND (
          (
            "t3"."end_month" + 24
          ) <= 24281
        )
        THEN COALESCE("t4"."w_earn13_24", 0.0) / 12
        ELSE CAST(NULL AS DOUBLE)
      END AS "earnings_13_24m",
      CAST(CASE
        WHEN "t5"."fs_month" IS NOT NULL
        THEN "t5"."fs_month" - "t3"."start_month"
        WHEN "t3"."start_month" IS NOT NULL
        THEN 24281 - "t3"."start_month"
        ELSE CAST(NULL AS INT)
      END AS INT) AS "months_to_employment_from_start",
      CASE
        WHEN "t3"."start_month" IS NOT NULL
        THEN NOT (
          "t5"."fs_month" IS NOT NULL
        )
        ELSE CAST(NULL AS BOOLEAN)
      END AS "censored_from_start",
      CAST(CASE
        WHEN "t5"."fs_month" IS NOT NULL
        THEN "t5"."fs_day" - CAST(DATEDIFF(DAY, DATE_FROM_PARTS(1970, 1, 1), "t3"."start_date") AS INT)
        ELSE CAST(NULL AS INT)
      END AS INT) AS "days_to_employment_from_start",
      CAST(CASE
        WHEN "t6"."fe_month" IS NOT NULL
        THEN "t6"."fe_month" - "t3"."end_month"
        WHEN "t3"."end_month" IS NOT NULL
        THEN 24281 - "t3"."end_month"
        ELSE CAST(NULL AS INT)
      END AS INT) AS "months_to_employment",
      CASE
        WHEN "t3"."end_month" IS NOT NULL
        THEN NOT (
          "t6"."fe_month" IS NOT NULL
        )
        ELSE CAST(NULL AS BOOLEAN)
      END AS "censored",
      CAST(CASE
        WHEN "t6"."fe_month" IS NOT NULL
        THEN "t6"."fe_day" - CAST(DATEDIFF(DAY, DATE_FROM_PARTS(1970, 1, 1), "t3"."end_date") AS INT)
        ELSE CAST(NULL AS INT)
      END AS INT) AS "days_to_employment",
      CASE
        WHEN (
          "t6"."fe_month" IS NOT NULL
        )
        AND (
          (
            "t6"."fe_month" + 3
          ) <= 24281
        )
        THEN COALESCE("t7"."rt3", 0) = 1
        ELSE CAST(NULL AS BOOLEAN)
      END AS "returned_3m",
      CASE
        WHEN (
          "t6"."fe_month" IS NOT NULL
        )
        AND (
          (
            "t6"."fe_month" + 6
          ) <= 24281
        )
        THEN COALESCE("t7"."rt6", 0) = 1
        ELSE CAST(NULL AS BOOLEAN)
      END AS "returned_6m",
      CASE
        WHEN (
          "t6"."fe_month" IS NOT NULL
        )
        AND (
          (
            "t6"."fe_month" + 12
          ) <= 24281
        )
        THEN COALESCE("t7"."rt12", 0) = 1
        ELSE CAST(NULL AS BOOLEAN)
      END AS "returned_12m",
      CASE
        WHEN CASE
          WHEN (
            "t3"."end_month" IS NOT NULL
          )
          AND (
            (
              "t3"."end_month" + 12
            ) <= 24281
          )
          THEN COALESCE("t4"."w_earn1_12", 0.0) / 12
          ELSE CAST(NULL AS DOUBLE)
        END IS NOT NULL
        THEN "t8"."b1_12"
        ELSE CAST(NULL AS DOUBLE)
      END AS "baseline_1_12m",
      CASE
        WHEN CASE
          WHEN CASE
            WHEN (
              "t3"."end_month" IS NOT NULL
            )
            AND (
              (
                "t3"."end_month" + 12
              ) <= 24281
            )
            THEN COALESCE("t4"."w_earn1_12", 0.0) / 12
            ELSE CAST(NULL AS DOUBLE)
          END IS NOT NULL
          THEN "t8"."b1_12"
          ELSE CAST(NULL AS DOUBLE)
        END > 1e-06
        THEN CASE
          WHEN (
            "t3"."end_month" IS NOT NULL
          )
          AND (
            (
              "t3"."end_month" + 12
            ) <= 24281
          )
          THEN COALESCE("t4"."w_earn1_12", 0.0) / 12
          ELSE CAST(NULL AS DOUBLE)
        END / CASE
          WHEN CASE
            WHEN (
              "t3"."end_month" IS NOT NULL
            )
            AND (
              (
                "t3"."end_month" + 12
              ) <= 24281
            )
            THEN COALESCE("t4"."w_earn1_12", 0.0) / 12
            ELSE CAST(NULL AS DOUBLE)
          END IS NOT NULL
          THEN "t8"."b1_12"
          ELSE CAST(NULL AS DOUBLE)
        END
        ELSE CAST(NULL AS DOUBLE)
      END AS "rel_earnings_1_12m",
      CASE
        WHEN CASE
          WHEN (
            "t3"."end_month" IS NOT NULL
          )
          AND (
            (
              "t3"."end_month" + 24
            ) <= 24281
          )
          THEN COALESCE("t4"."w_earn13_24", 0.0) / 12
          ELSE CAST(NULL AS DOUBLE)
        END IS NOT NULL
        THEN "t8"."b13_24"
        ELSE CAST(NULL AS DOUBLE)
      END AS "baseline_13_24m",
      CASE
        WHEN CASE
          WHEN CASE
            WHEN (
              "t3"."end_month" IS NOT NULL
            )
            AND (
              (
                "t3"."end_month" + 24
              ) <= 24281
            )
            THEN COALESCE("t4"."w_earn13_24", 0.0) / 12
            ELSE CAST(NULL AS DOUBLE)
          END IS NOT NULL
          THEN "t8"."b13_24"
          ELSE CAST(NULL AS DOUBLE)
        END > 1e-06
        THEN CASE
          WHEN (
            "t3"."end_month" IS NOT NULL
          )
          AND (
            (
              "t3"."end_month" + 24
            ) <= 24281
          )
          THEN COALESCE("t4"."w_earn13_24", 0.0) / 12
          ELSE CAST(NULL AS DOUBLE)
        END / CASE
          WHEN CASE
            WHEN (
              "t3"."end_month" IS NOT NULL
            )
            AND (
              (
                "t3"."end_month" + 24
              ) <= 24281
            )
            THEN COALESCE("t4"."w_earn13_24", 0.0) / 12
            ELSE CAST(NULL AS DOUBLE)
          END IS NOT NULL
          THEN "t8"."b13_24"
          ELSE CAST(NULL AS DOUBLE)
        END
        ELSE CAST(NULL AS DOUBLE)
      END AS "rel_earnings_13_24m"
    FROM (
      SELECT
        "t9"."spell_id",
        "t9"."person_id",
        "t9"."start_date",
        "t9"."end_date",
        "t9"."status_at_start",
        "t9"."end_reason",
        "t9"."segment",
        "t9"."municipality",
        "t9"."spell_id" AS "unit_id",
        (
          (
            DATE_PART(year, "t9"."end_date") * 12
          ) + DATE_PART(month, "t9"."end_date")
        ) - 1 AS "end_month",
        (
          (
            DATE_PART(year, "t9"."start_date") * 12
          ) + DATE_PART(month, "t9"."start_date")
        ) - 1 AS "start_month"
      FROM "t0" AS "t9"
      WHERE
        "t9"."drop_rule" IS NULL
    ) AS "t3"
    LEFT OUTER JOIN (
      SELECT
        "t10"."w_unit",
        MAX(
          CASE
            WHEN (
              (
                "t10"."month" - "t10"."e"
              ) = 1
            ) AND "t10"."employed"
            THEN 1
            ELSE 0
          END
        ) AS "w_emp1",
        MAX(
          CASE
            WHEN (
              (
                "t10"."month" - "t10"."e"
              ) = 3
            ) AND "t10"."employed"
            THEN 1
            ELSE 0
          END
        ) AS "w_emp3",
        MAX(
          CASE
            WHEN (
              (
                "t10"."month" - "t10"."e"
              ) = 6
            ) AND "t10"."employed"
            THEN 1
            ELSE 0
          END
        ) AS "w_emp6",
        MAX(
          CASE
            WHEN (
              (
                "t10"."month" - "t10"."e"
              ) = 12
            ) AND "t10"."employed"
            THEN 1
            ELSE 0
          END
        ) AS "w_emp12",
        SUM(
          CASE
            WHEN (
              (
                "t10"."month" - "t10"."e"
              ) <= 6
            ) AND "t10"."employed"
            THEN 1
            ELSE 0
          END
        ) AS "w_nemp6",
        SUM(
          CASE
            WHEN (
              (
                "t10"."month" - "t10"."e"
              ) <= 12
            ) AND "t10"."employed"
            THEN 1
            ELSE 0
          END
        ) AS "w_nemp12",
        SUM(
          CASE
            WHEN (
              (
                "t10"."month" - "t10"."e"
              ) >= 1
            )
            AND (
              (
                "t10"."month" - "t10"."e"
              ) <= 12
            )
            THEN "t10"."earnings_eur"
            ELSE 0.0
          END
        ) AS "w_earn1_12",
        SUM(
          CASE
            WHEN (
              (
                "t10"."month" - "t10"."e"
              ) >= 13
            )
            AND (
              (
                "t10"."month" - "t10"."e"
              ) <= 24
            )
            THEN "t10"."earnings_eur"
            ELSE 0.0
          END
        ) AS "w_earn13_24"
      FROM (
        SELECT
          "t11"."w_unit",
          "t11"."w_person",
          "t11"."e",
          "t12"."person_id",
          "t12"."month",
          "t12"."earnings_eur",
          "t12"."subsidised_eur",
          "t12"."employed",
          "t12"."subsidised",
          "t12"."first_work_day"
        FROM (
          SELECT
            "t9"."spell_id" AS "w_unit",
            "t9"."person_id" AS "w_person",
            (
              (
                DATE_PART(year, "t9"."end_date") * 12
              ) + DATE_PART(month, "t9"."end_date")
            ) - 1 AS "e"
          FROM "t0" AS "t9"
          WHERE
            "t9"."drop_rule" IS NULL
            AND (
              (
                (
                  DATE_PART(year, "t9"."end_date") * 12
                ) + DATE_PART(month, "t9"."end_date")
              ) - 1
            ) IS NOT NULL
        ) AS "t11"
        INNER JOIN (
          SELECT
            *
          FROM "impact_person_month" AS "t13"
          WHERE
            "t13"."month" <= 24281
        ) AS "t12"
          ON "t11"."w_person" = "t12"."person_id"
          AND "t12"."month" >= (
            "t11"."e" + 1
          )
          AND "t12"."month" <= (
            "t11"."e" + 24
          )
      ) AS "t10"
      GROUP BY
        1
    ) AS "t4"
      ON "t3"."unit_id" = "t4"."w_unit"
    LEFT OUTER JOIN (
      SELECT
        "t14"."fu" AS "fe_unit",
        "t14"."fp" AS "fe_person",
        "t14"."ff" AS "fe_month",
        "t15"."ed" AS "fe_day"
      FROM (
        SELECT
          "t16"."fu",
          "t16"."fp",
          MIN("t16"."month") AS "ff"
        FROM (
          SELECT
            "t17"."fu",
            "t17"."fp",
            "t17"."fo",
            "t18"."person_id",
            "t18"."month",
            "t18"."first_work_day"
          FROM (
            SELECT
              *
            FROM (
              SELECT
                "t9"."spell_id" AS "fu",
                "t9"."person_id" AS "fp",
                (
                  (
                    DATE_PART(year, "t9"."end_date") * 12
                  ) + DATE_PART(month, "t9"."end_date")
                ) - 1 AS "fo"
              FROM "t0" AS "t9"
              WHERE
                "t9"."drop_rule" IS NULL
            ) AS "t19"
            WHERE
              "t19"."fo" IS NOT NULL
          ) AS "t17"
          INNER JOIN (
            SELECT
              "t13"."person_id",
              "t13"."month",
              "t13"."first_work_day"
            FROM "impact_person_month" AS "t13"
            WHERE
              "t13"."month" <= 24281 AND "t13"."employed"
          ) AS "t18"
            ON "t17"."fp" = "t18"."person_id" AND "t18"."month" > "t17"."fo"
        ) AS "t16"
        GROUP BY
          1,
          2
      ) AS "t14"
      INNER JOIN (
        SELECT
          "t13"."person_id" AS "ep",
          "t13"."month" AS "em",
          "t13"."first_work_day" AS "ed"
        FROM "impact_person_month" AS "t13"
        WHERE
          "t13"."month" <= 24281 AND "t13"."employed"
      ) AS "t15"
        ON "t14"."fp" = "t15"."ep" AND "t14"."ff" = "t15"."em"
    ) AS "t6"
      ON "t3"."unit_id" = "t6"."fe_unit"
    LEFT OUTER JOIN (
      SELECT
        "t20"."fu" AS "fs_unit",
        "t20"."fp" AS "fs_person",
        "t20"."ff" AS "fs_month",
        "t15"."ed" AS "fs_day"
      FROM (
        SELECT
          "t21"."fu",
          "t21"."fp",
          MIN("t21"."month") AS "ff"
        FROM (
          SELECT
            "t22"."fu",
            "t22"."fp",
            "t22"."fo",
            "t18"."person_id",
            "t18"."month",
            "t18"."first_work_day"
          FROM (
            SELECT
              *
            FROM (
              SELECT
                "t9"."spell_id" AS "fu",
                "t9"."person_id" AS "fp",
                (
                  (
                    DATE_PART(year, "t9"."start_date") * 12
                  ) + DATE_PART(month, "t9"."start_date")
                ) - 1 AS "fo"
              FROM "t0" AS "t9"
              WHERE
                "t9"."drop_rule" IS NULL
            ) AS "t23"
            WHERE
              "t23"."fo" IS NOT NULL
          ) AS "t22"
          INNER JOIN (
            SELECT
              "t13"."person_id",
              "t13"."month",
              "t13"."first_work_day"
            FROM "impact_person_month" AS "t13"
            WHERE
              "t13"."month" <= 24281 AND "t13"."employed"
          ) AS "t18"
            ON "t22"."fp" = "t18"."person_id" AND "t18"."month" > "t22"."fo"
        ) AS "t21"
        GROUP BY
          1,
          2
      ) AS "t20"
      INNER JOIN (
        SELECT
          "t13"."person_id" AS "ep",
          "t13"."month" AS "em",
          "t13"."first_work_day" AS "ed"
        FROM "impact_person_month" AS "t13"
        WHERE
          "t13"."month" <= 24281 AND "t13"."employed"
      ) AS "t15"
        ON "t20"."fp" = "t15"."ep" AND "t20"."ff" = "t15"."em"
    ) AS "t5"
      ON "t3"."unit_id" = "t5"."fs_unit"
    LEFT OUTER JOIN (
      SELECT
        "t24"."fe_unit" AS "rt_unit",
        MAX(CASE WHEN "t24"."s_month" <= (
          "t24"."fe_month" + 3
        ) THEN 1 ELSE 0 END) AS "rt3",
        MAX(CASE WHEN "t24"."s_month" <= (
          "t24"."fe_month" + 6
        ) THEN 1 ELSE 0 END) AS "rt6",
        MAX(CASE WHEN "t24"."s_month" <= (
          "t24"."fe_month" + 12
        ) THEN 1 ELSE 0 END) AS "rt12"
      FROM (
        SELECT
          "t14"."fu" AS "fe_unit",
          "t14"."fp" AS "fe_person",
          "t14"."ff" AS "fe_month",
          "t15"."ed" AS "fe_day",
          "t25"."s_person",
          "t25"."s_month"
        FROM (
          SELECT
            "t16"."fu",
            "t16"."fp",
            MIN("t16"."month") AS "ff"
          FROM (
            SELECT
              "t17"."fu",
              "t17"."fp",
              "t17"."fo",
              "t18"."person_id",
              "t18"."month",
              "t18"."first_work_day"
            FROM (
              SELECT
                *
              FROM (
                SELECT
                  "t9"."spell_id" AS "fu",
                  "t9"."person_id" AS "fp",
                  (
                    (
                      DATE_PART(year, "t9"."end_date") * 12
                    ) + DATE_PART(month, "t9"."end_date")
                  ) - 1 AS "fo"
                FROM "t0" AS "t9"
                WHERE
                  "t9"."drop_rule" IS NULL
              ) AS "t19"
              WHERE
                "t19"."fo" IS NOT NULL
            ) AS "t17"
            INNER JOIN (
              SELECT
                "t13"."person_id",
                "t13"."month",
                "t13"."first_work_day"
              FROM "impact_person_month" AS "t13"
              WHERE
                "t13"."month" <= 24281 AND "t13"."employed"
            ) AS "t18"
              ON "t17"."fp" = "t18"."person_id" AND "t18"."month" > "t17"."fo"
          ) AS "t16"
          GROUP BY
            1,
            2
        ) AS "t14"
        INNER JOIN (
          SELECT
            "t13"."person_id" AS "ep",
            "t13"."month" AS "em",
            "t13"."first_work_day" AS "ed"
          FROM "impact_person_month" AS "t13"
          WHERE
            "t13"."month" <= 24281 AND "t13"."employed"
        ) AS "t15"
          ON "t14"."fp" = "t15"."ep" AND "t14"."ff" = "t15"."em"
        INNER JOIN (
          SELECT
            "t9"."person_id" AS "s_person",
            (
              (
                DATE_PART(year, "t9"."start_date") * 12
              ) + DATE_PART(month, "t9"."start_date")
            ) - 1 AS "s_month"
          FROM "t0" AS "t9"
          WHERE
            "t9"."drop_rule" IS NULL
        ) AS "t25"
          ON "t14"."fp" = "t25"."s_person"
          AND "t25"."s_month" >= (
            "t14"."ff" + 1
          )
          AND "t25"."s_month" <= (
            "t14"."ff" + 12
          )
      ) AS "t24"
      GROUP BY
        1
    ) AS "t7"
      ON "t3"."unit_id" = "t7"."rt_unit"
    LEFT OUTER JOIN (
      SELECT
        "t26"."c_unit" AS "b_unit",
        (
          "t27"."hi1_12_cum" - "t28"."lo1_12_cum"
        ) / 12 AS "b1_12",
        (
          "t29"."hi13_24_cum" - "t30"."lo13_24_cum"
        ) / 12 AS "b13_24"
      FROM (
        SELECT
          "t31"."c_unit",
          "t31"."c_pid",
          "t31"."c_end",
          "t31"."c_year",
          "t31"."c_person",
          "t31"."c_birth",
          "t31"."c_sex",
          "t31"."c_education",
          "t31"."c_employment_area",
          CASE
            WHEN (
              "t31"."c_year" - CAST("t31"."c_birth" AS INT)
            ) >= 60
            THEN 60
            WHEN (
              "t31"."c_year" - CAST("t31"."c_birth" AS INT)
            ) >= 50
            THEN 50
            WHEN (
              "t31"."c_year" - CAST("t31"."c_birth" AS INT)
            ) >= 40
            THEN 40
            WHEN (
              "t31"."c_year" - CAST("t31"."c_birth" AS INT)
            ) >= 30
            THEN 30
            WHEN (
              "t31"."c_year" - CAST("t31"."c_birth" AS INT)
            ) >= 25
            THEN 25
            ELSE 0
          END AS "c_age_band"
        FROM (
          SELECT
            "t32"."c_unit",
            "t32"."c_pid",
            "t32"."c_end",
            "t32"."c_year",
            "t33"."c_person",
            "t33"."c_birth",
            "t33"."c_sex",
            "t33"."c_education",
            "t33"."c_employment_area"
          FROM (
            SELECT
              *
            FROM (
              SELECT
                "t9"."spell_id" AS "c_unit",
                "t9"."person_id" AS "c_pid",
                (
                  (
                    DATE_PART(year, "t9"."end_date") * 12
                  ) + DATE_PART(month, "t9"."end_date")
                ) - 1 AS "c_end",
                DATE_PART(year, "t9"."end_date") AS "c_year"
              FROM "t0" AS "t9"
              WHERE
                "t9"."drop_rule" IS NULL
            ) AS "t34"
            WHERE
              "t34"."c_end" IS NOT NULL
          ) AS "t32"
          INNER JOIN (
            SELECT
              "t35"."person_id" AS "c_person",
              "t35"."birth_year" AS "c_birth",
              "t35"."sex" AS "c_sex",
              "t35"."education" AS "c_education",
              "t35"."employment_area" AS "c_employment_area"
            FROM "persons" AS "t35"
          ) AS "t33"
            ON "t32"."c_pid" = "t33"."c_person"
        ) AS "t31"
      ) AS "t26"
      LEFT OUTER JOIN (
        SELECT
          "t36"."age_band" AS "lo1_12_age_band",
          "t36"."sex" AS "lo1_12_sex",
          "t36"."education" AS "lo1_12_education",
          "t36"."employment_area" AS "lo1_12_employment_area",
          "t36"."month" AS "lo1_12_month",
          "t36"."cum_base" AS "lo1_12_cum"
        FROM "impact_segment_baseline" AS "t36"
      ) AS "t28"
        ON "t26"."c_age_band" = "t28"."lo1_12_age_band"
        AND "t26"."c_sex" = "t28"."lo1_12_sex"
        AND "t26"."c_education" = "t28"."lo1_12_education"
        AND "t26"."c_employment_area" = "t28"."lo1_12_employment_area"
        AND (
          "t26"."c_end" + 0
        ) = "t28"."lo1_12_month"
      LEFT OUTER JOIN (
        SELECT
          "t36"."age_band" AS "hi1_12_age_band",
          "t36"."sex" AS "hi1_12_sex",
          "t36"."education" AS "hi1_12_education",
          "t36"."employment_area" AS "hi1_12_employment_area",
          "t36"."month" AS "hi1_12_month",
          "t36"."cum_base" AS "hi1_12_cum"
        FROM "impact_segment_baseline" AS "t36"
      ) AS "t27"
        ON "t26"."c_age_band" = "t27"."hi1_12_age_band"
        AND "t26"."c_sex" = "t27"."hi1_12_sex"
        AND "t26"."c_education" = "t27"."hi1_12_education"
        AND "t26"."c_employment_area" = "t27"."hi1_12_employment_area"
        AND (
          "t26"."c_end" + 12
        ) = "t27"."hi1_12_month"
      LEFT OUTER JOIN (
        SELECT
          "t36"."age_band" AS "lo13_24_age_band",
          "t36"."sex" AS "lo13_24_sex",
          "t36"."education" AS "lo13_24_education",
          "t36"."employment_area" AS "lo13_24_employment_area",
          "t36"."month" AS "lo13_24_month",
          "t36"."cum_base" AS "lo13_24_cum"
        FROM "impact_segment_baseline" AS "t36"
      ) AS "t30"
        ON "t26"."c_age_band" = "t30"."lo13_24_age_band"
        AND "t26"."c_sex" = "t30"."lo13_24_sex"
        AND "t26"."c_education" = "t30"."lo13_24_education"
        AND "t26"."c_employment_area" = "t30"."lo13_24_employment_area"
        AND (
          "t26"."c_end" + 12
        ) = "t30"."lo13_24_month"
      LEFT OUTER JOIN (
        SELECT
          "t36"."age_band" AS "hi13_24_age_band",
          "t36"."sex" AS "hi13_24_sex",
          "t36"."education" AS "hi13_24_education",
          "t36"."employment_area" AS "hi13_24_employment_area",
          "t36"."month" AS "hi13_24_month",
          "t36"."cum_base" AS "hi13_24_cum"
        FROM "impact_segment_baseline" AS "t36"
      ) AS "t29"
        ON "t26"."c_age_band" = "t29"."hi13_24_age_band"
        AND "t26"."c_sex" = "t29"."hi13_24_sex"
        AND "t26"."c_education" = "t29"."hi13_24_education"
        AND "t26"."c_employment_area" = "t29"."hi13_24_employment_area"
        AND (
          "t26"."c_end" + 24
        ) = "t29"."hi13_24_month"
    ) AS "t8"
      ON "t3"."unit_id" = "t8"."b_unit"
  ) AS "t2"
) AS "t37"
ORDER BY
  "t37"."spell_id" ASC;

-- report_exclusions
CREATE OR REPLACE TABLE "impact_report_exclusions" AS
SELECT
  "t0"."drop_rule" AS "rule",
  COUNT(*) AS "rows"
FROM (
  SELECT
    *
  FROM (
    SELECT
      "t1".*
      EXCLUDE ("_latest", "_lp", "_lr", "_lv", "_sp_person")
    FROM (
      SELECT
        "t2"."report_id",
        "t2"."report_ref",
        "t2"."version",
        "t2"."action",
        "t2"."person_id",
        "t2"."payer_id",
        "t2"."payment_date",
        "t2"."pay_period_start",
        "t2"."pay_period_end",
        "t2"."earning_period_start",
        "t2"."earning_period_end",
        "t2"."income_type",
        "t2"."amount_eur",
        "t2"."subsidised",
        "t2"."recovery",
        "t2"."orig_payment_date",
        "t2"."_lp",
        "t2"."_lr",
        "t2"."_lv",
        "t2"."_latest",
        "t2"."_sp_person",
        CASE
          WHEN "t2"."version" < "t2"."_latest"
          THEN 'superseded_version'
          WHEN "t2"."action" = 'cancel'
          THEN 'cancelled_report'
          WHEN NOT (
            "t2"."income_type" IN (
              101,
              201,
              202,
              203,
              205,
              212,
              213,
              216,
              218,
              220,
              221,
              225,
              227,
              230,
              232,
              234,
              235,
              238
            )
          )
          THEN 'income_type_not_counted'
          WHEN "t2"."payment_date" > DATE_FROM_PARTS(2023, 6, 30)
          THEN 'paid_after_extraction'
          WHEN NOT (
            "t2"."_sp_person" IS NOT NULL
          )
          THEN 'person_without_spells'
          ELSE CAST(NULL AS VARCHAR)
        END AS "drop_rule"
      FROM (
        SELECT
          "t3"."report_id",
          "t3"."report_ref",
          "t3"."version",
          "t3"."action",
          "t3"."person_id",
          "t3"."payer_id",
          "t3"."payment_date",
          "t3"."pay_period_start",
          "t3"."pay_period_end",
          "t3"."earning_period_start",
          "t3"."earning_period_end",
          "t3"."income_type",
          "t3"."amount_eur",
          "t3"."subsidised",
          "t3"."recovery",
          "t3"."orig_payment_date",
          "t3"."_lp",
          "t3"."_lr",
          "t3"."_lv",
          "t3"."_latest",
          "t4"."_sp_person"
        FROM (
          SELECT
            "t5"."report_id",
            "t5"."report_ref",
            "t5"."version",
            "t5"."action",
            "t5"."person_id",
            "t5"."payer_id",
            "t5"."payment_date",
            "t5"."pay_period_start",
            "t5"."pay_period_end",
            "t5"."earning_period_start",
            "t5"."earning_period_end",
            "t5"."income_type",
            "t5"."amount_eur",
            "t5"."subsidised",
            "t5"."recovery",
            "t5"."orig_payment_date",
            "t5"."_lp",
            "t5"."_lr",
            "t5"."_lv",
            GREATEST("t5"."version", COALESCE("t5"."_lv", "t5"."version")) AS "_latest"
          FROM (
            SELECT
              "t6"."report_id",
              "t6"."report_ref",
              "t6"."version",
              "t6"."action",
              "t6"."person_id",
              "t6"."payer_id",
              "t6"."payment_date",
              "t6"."pay_period_start",
              "t6"."pay_period_end",
              "t6"."earning_period_start",
              "t6"."earning_period_end",
              "t6"."income_type",
              "t6"."amount_eur",
              "t6"."subsidised",
              "t6"."recovery",
              "t6"."orig_payment_date",
              "t7"."_lp",
              "t7"."_lr",
              "t7"."_lv"
            FROM "earnings_reports" AS "t6"
            LEFT OUTER JOIN (
              SELECT
                "t8"."payer_id" AS "_lp",
                "t8"."report_ref" AS "_lr",
                MAX("t8"."version") AS "_lv"
              FROM (
                SELECT
                  *
                FROM "earnings_reports" AS "t9"
                WHERE
                  "t9"."version" > 1
              ) AS "t8"
              GROUP BY
                1,
                2
            ) AS "t7"
              ON "t6"."payer_id" = "t7"."_lp" AND "t6"."report_ref" = "t7"."_lr"
          ) AS "t5"
        ) AS "t3"
        LEFT OUTER JOIN (
          SELECT DISTINCT
            "t10"."person_id" AS "_sp_person"
          FROM (
            SELECT DISTINCT
              *
            FROM (
              SELECT
                *
              FROM (
                SELECT
                  "t11"."person_id"
                FROM "service_spells" AS "t11"
              ) AS "t12"
              UNION ALL
              SELECT
                *
              FROM (
                SELECT
                  "t13"."person_id"
                FROM "jobseeking_spells" AS "t13"
              ) AS "t14"
            ) AS "t15"
          ) AS "t10"
        ) AS "t4"
          ON "t3"."person_id" = "t4"."_sp_person"
      ) AS "t2"
    ) AS "t1"
  ) AS "t16"
  WHERE
    "t16"."drop_rule" IS NOT NULL
) AS "t0"
GROUP BY
  1;

-- service_exclusions
CREATE OR REPLACE TABLE "impact_service_exclusions" AS
SELECT
  "t0"."drop_rule" AS "rule",
  COUNT(*) AS "rows"
FROM (
  SELECT
    "t1"."person_id",
    "t1"."service_id",
    "t1"."service_type",
    "t1"."subtype",
    "t1"."start_date",
    "t1"."end_date",
    "t1"."end_reason",
    "t1"."provider_id",
    "t1"."course_id",
    "t1"."cost_eur",
    "t1"."employer_sector",
    CASE
      WHEN "t1"."start_date" > DATE_FROM_PARTS(2023, 6, 30)
      THEN 'service_starts_after_extraction'
      WHEN "t1"."end_date" IS NULL
      THEN 'service_ongoing'
      WHEN "t1"."end_date" > DATE_FROM_PARTS(2023, 6, 30)
      THEN 'service_ends_after_extraction'
      ELSE CAST(NULL AS VARCHAR)
    END AS "drop_rule"
  FROM "service_spells" AS "t1"
  WHERE
    CASE
      WHEN "t1"."start_date" > DATE_FROM_PARTS(2023, 6, 30)
      THEN 'service_starts_after_extraction'
      WHEN "t1"."end_date" IS NULL
      THEN 'service_ongoing'
      WHEN "t1"."end_date" > DATE_FROM_PARTS(2023, 6, 30)
      THEN 'service_ends_after_extraction'
      ELSE CAST(NULL AS VARCHAR)
    END IS NOT NULL
) AS "t0"
GROUP BY
  1;

-- spell_exclusions
CREATE OR REPLACE TABLE "impact_spell_exclusions" AS
SELECT
  "t0"."drop_rule" AS "rule",
  COUNT(*) AS "rows"
FROM (
  SELECT
    *
  FROM (
    SELECT
      "t1"."person_id",
      "t1"."spell_id",
      "t1"."start_date",
      "t1"."end_date",
      "t1"."status_at_start",
      "t1"."end_reason",
      "t1"."segment",
      "t1"."municipality",
      CASE
        WHEN "t1"."start_date" > DATE_FROM_PARTS(2023, 6, 30)
        THEN 'spell_starts_after_extraction'
        WHEN (
          "t1"."end_date" IS NOT NULL
        )
        AND (
          "t1"."end_date" > DATE_FROM_PARTS(2023, 6, 30)
        )
        THEN 'spell_ends_after_extraction'
        ELSE CAST(NULL AS VARCHAR)
      END AS "drop_rule"
    FROM "jobseeking_spells" AS "t1"
  ) AS "t2"
  WHERE
    "t2"."drop_rule" IS NOT NULL
) AS "t0"
GROUP BY
  1;
