-- impact outcomes: extraction date 2023-06-30, config {'allocation': 'earning_period', 'income_types': (101, 201, 202, 203, 205, 212, 213, 216, 218, 220, 221, 225, 227, 230, 232, 234, 235, 238), 'holiday_compensation': 'spread', 'employment_floor_eur': 500.0, 'employment_rule': 'floor', 'horizons': (1, 3, 6, 12), 'k_of_h': ((3, 6), (6, 12)), 'earnings_windows': ((1, 12), (13, 24)), 'return_windows': (3, 6, 12), 'segment_by': ('age_band', 'sex', 'education', 'employment_area'), 'age_bands': (0, 25, 30, 40, 50, 60), 'extraction_date': '2023-06-30', 'data_start': '2018-01-01', 'disclosure_min': 10, 'group_tables': ('service_type', 'provider_id', 'course_id', 'employment_area', 'municipality')}
-- constant table (76 rows)
CREATE OR REPLACE TEMPORARY TABLE "impact_const_a7a2648d43" AS
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
  (24282, 19539, 19569),
  (-1, 0, 0),
  (-2, 0, 0),
  (-3, 0, 0),
  (-4, 0, 0),
  (-5, 0, 0),
  (-6, 0, 0),
  (-7, 0, 0),
  (-8, 0, 0)) AS "v"("month", "first_day", "last_day");

-- constant table (68 rows)
CREATE OR REPLACE TEMPORARY TABLE "impact_const_58e6fc4b07" AS
SELECT
  CAST("v"."v" AS INT) AS "v"
FROM (VALUES
  (0),
  (1),
  (2),
  (3),
  (4),
  (5),
  (6),
  (7),
  (8),
  (9),
  (10),
  (11),
  (12),
  (13),
  (14),
  (15),
  (16),
  (17),
  (18),
  (19),
  (20),
  (21),
  (22),
  (23),
  (24),
  (25),
  (26),
  (27),
  (28),
  (29),
  (30),
  (31),
  (32),
  (33),
  (34),
  (35),
  (36),
  (37),
  (38),
  (39),
  (40),
  (41),
  (42),
  (43),
  (44),
  (45),
  (46),
  (47),
  (48),
  (49),
  (50),
  (51),
  (52),
  (53),
  (54),
  (55),
  (56),
  (57),
  (58),
  (59),
  (60),
  (61),
  (62),
  (63),
  (64),
  (65),
  (66),
  (67)) AS "v"("v");

-- constant table (68 rows)
CREATE OR REPLACE TEMPORARY TABLE "impact_const_58e6fc4b07" AS
SELECT
  CAST("v"."v" AS INT) AS "v"
FROM (VALUES
  (0),
  (1),
  (2),
  (3),
  (4),
  (5),
  (6),
  (7),
  (8),
  (9),
  (10),
  (11),
  (12),
  (13),
  (14),
  (15),
  (16),
  (17),
  (18),
  (19),
  (20),
  (21),
  (22),
  (23),
  (24),
  (25),
  (26),
  (27),
  (28),
  (29),
  (30),
  (31),
  (32),
  (33),
  (34),
  (35),
  (36),
  (37),
  (38),
  (39),
  (40),
  (41),
  (42),
  (43),
  (44),
  (45),
  (46),
  (47),
  (48),
  (49),
  (50),
  (51),
  (52),
  (53),
  (54),
  (55),
  (56),
  (57),
  (58),
  (59),
  (60),
  (61),
  (62),
  (63),
  (64),
  (65),
  (66),
  (67)) AS "v"("v");

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

-- person_month_with_counts
CREATE OR REPLACE TABLE "impact_person_month_with_counts" AS
SELECT
  "t0"."person_id",
  "t0"."month",
  "t0"."earnings_eur",
  "t0"."subsidised_eur",
  (
    "t0"."earnings_eur" - "t0"."subsidised_eur"
  ) >= 499.995 AS "employed",
  "t0"."subsidised_eur" >= 499.995 AS "subsidised",
  "t0"."first_work_day"
FROM (
  SELECT
    "t1"."person_id",
    "t1"."month",
    SUM("t1"."amount") AS "earnings_eur",
    SUM(CASE WHEN "t1"."subsidised" THEN "t1"."amount" ELSE 0.0 END) AS "subsidised_eur",
    MIN(
      CASE
        WHEN "t1"."wage" AND NOT (
          "t1"."subsidised"
        )
        THEN "t1"."work_day"
        ELSE CAST(NULL AS INT)
      END
    ) AS "first_work_day"
  FROM (
    SELECT
      "t2"."person_id",
      "t3"."month",
      (
        "t2"."amount_eur" * CAST((
          LEAST("t2"."d1", "t3"."last_day") - GREATEST("t2"."d0", "t3"."first_day")
        ) + 1 AS DOUBLE)
      ) / CAST((
        "t2"."d1" - "t2"."d0"
      ) + 1 AS DOUBLE) AS "amount",
      "t2"."subsidised",
      "t2"."wage",
      GREATEST("t2"."d0", "t3"."first_day") AS "work_day",
      LEAST("t2"."d1", "t3"."last_day") >= (
        "t3"."last_day" - 6
      ) AS "last_week"
    FROM (
      SELECT
        *
      FROM (
        SELECT
          "t4"."person_id",
          "t4"."amount_eur",
          "t4"."subsidised",
          "t4"."wage",
          "t4"."d0",
          "t4"."d1",
          "t4"."m0",
          CAST("t4"."m0" + "t5"."k" AS INT) AS "alloc_month"
        FROM (
          SELECT
            CASE
              WHEN "t6"."rule_code" IS NULL
              THEN "t6"."person_id"
              ELSE CAST(NULL AS BIGINT)
            END AS "person_id",
            CASE WHEN "t6"."rule_code" IS NULL THEN "t6"."amount_eur" ELSE 1.0 END AS "amount_eur",
            (
              "t6"."rule_code" IS NULL
            ) AND COALESCE("t6"."subsidised", FALSE) AS "subsidised",
            (
              "t6"."rule_code" IS NULL
            )
            AND NOT (
              COALESCE("t6"."recovery", FALSE)
            )
            AND (
              "t6"."amount_eur" > 0
            ) AS "wage",
            CASE
              WHEN "t6"."rule_code" IS NULL
              THEN CAST(DATEDIFF(
                DAY,
                DATE_FROM_PARTS(1970, 1, 1),
                CASE
                  WHEN (
                    "t6"."earning_period_start" IS NOT NULL
                  )
                  AND (
                    "t6"."earning_period_end" IS NOT NULL
                  )
                  THEN "t6"."earning_period_start"
                  ELSE "t6"."pay_period_start"
                END
              ) AS INT)
              ELSE 0
            END AS "d0",
            CASE
              WHEN "t6"."rule_code" IS NULL
              THEN CAST(DATEDIFF(
                DAY,
                DATE_FROM_PARTS(1970, 1, 1),
                CASE
                  WHEN (
                    "t6"."earning_period_start" IS NOT NULL
                  )
                  AND (
                    "t6"."earning_period_end" IS NOT NULL
                  )
                  THEN "t6"."earning_period_end"
                  ELSE "t6"."pay_period_end"
                END
              ) AS INT)
              ELSE 0
            END AS "d1",
            CASE
              WHEN "t6"."rule_code" IS NULL
              THEN (
                (
                  DATE_PART(
                    year,
                    CASE
                      WHEN (
                        "t6"."earning_period_start" IS NOT NULL
                      )
                      AND (
                        "t6"."earning_period_end" IS NOT NULL
                      )
                      THEN "t6"."earning_period_start"
                      ELSE "t6"."pay_period_start"
                    END
                  ) * 12
                ) + DATE_PART(
                  month,
                  CASE
                    WHEN (
                      "t6"."earning_period_start" IS NOT NULL
                    )
                    AND (
                      "t6"."earning_period_end" IS NOT NULL
                    )
                    THEN "t6"."earning_period_start"
                    ELSE "t6"."pay_period_start"
                  END
                )
              ) - 1
              ELSE -1 - "t6"."rule_code"
            END AS "m0",
            CAST(CASE
              WHEN "t6"."rule_code" IS NULL
              THEN (
                (
                  (
                    DATE_PART(
                      year,
                      CASE
                        WHEN (
                          "t6"."earning_period_start" IS NOT NULL
                        )
                        AND (
                          "t6"."earning_period_end" IS NOT NULL
                        )
                        THEN "t6"."earning_period_end"
                        ELSE "t6"."pay_period_end"
                      END
                    ) * 12
                  ) + DATE_PART(
                    month,
                    CASE
                      WHEN (
                        "t6"."earning_period_start" IS NOT NULL
                      )
                      AND (
                        "t6"."earning_period_end" IS NOT NULL
                      )
                      THEN "t6"."earning_period_end"
                      ELSE "t6"."pay_period_end"
                    END
                  )
                ) - 1
              ) - (
                (
                  (
                    DATE_PART(
                      year,
                      CASE
                        WHEN (
                          "t6"."earning_period_start" IS NOT NULL
                        )
                        AND (
                          "t6"."earning_period_end" IS NOT NULL
                        )
                        THEN "t6"."earning_period_start"
                        ELSE "t6"."pay_period_start"
                      END
                    ) * 12
                  ) + DATE_PART(
                    month,
                    CASE
                      WHEN (
                        "t6"."earning_period_start" IS NOT NULL
                      )
                      AND (
                        "t6"."earning_period_end" IS NOT NULL
                      )
                      THEN "t6"."earning_period_start"
                      ELSE "t6"."pay_period_start"
                    END
                  )
                ) - 1
              )
              ELSE 0
            END AS INT) AS "span"
          FROM (
            SELECT
              "t7".*
              EXCLUDE ("_latest", "_lp", "_lr", "_lv", "_sp_person")
            FROM (
              SELECT
                "t8"."report_id",
                "t8"."report_ref",
                "t8"."version",
                "t8"."action",
                "t8"."person_id",
                "t8"."payer_id",
                "t8"."payment_date",
                "t8"."pay_period_start",
                "t8"."pay_period_end",
                "t8"."earning_period_start",
                "t8"."earning_period_end",
                "t8"."income_type",
                "t8"."amount_eur",
                "t8"."subsidised",
                "t8"."recovery",
                "t8"."orig_payment_date",
                "t8"."_lp",
                "t8"."_lr",
                "t8"."_lv",
                "t8"."_latest",
                "t8"."_sp_person",
                CASE
                  WHEN COALESCE("t8"."version" < "t8"."_latest", FALSE)
                  THEN 0
                  WHEN COALESCE("t8"."action" = 'cancel', FALSE)
                  THEN 1
                  WHEN COALESCE(
                    NOT (
                      "t8"."income_type" IN (
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
                    ),
                    FALSE
                  )
                  THEN 2
                  WHEN COALESCE("t8"."payment_date" > DATE_FROM_PARTS(2023, 6, 30), FALSE)
                  THEN 3
                  WHEN COALESCE(
                    CASE
                      WHEN (
                        "t8"."earning_period_start" IS NOT NULL
                      )
                      AND (
                        "t8"."earning_period_end" IS NOT NULL
                      )
                      THEN "t8"."earning_period_end"
                      ELSE "t8"."pay_period_end"
                    END < CASE
                      WHEN (
                        "t8"."earning_period_start" IS NOT NULL
                      )
                      AND (
                        "t8"."earning_period_end" IS NOT NULL
                      )
                      THEN "t8"."earning_period_start"
                      ELSE "t8"."pay_period_start"
                    END,
                    FALSE
                  )
                  THEN 4
                  WHEN COALESCE(
                    (
                      CASE
                        WHEN (
                          "t8"."earning_period_start" IS NOT NULL
                        )
                        AND (
                          "t8"."earning_period_end" IS NOT NULL
                        )
                        THEN "t8"."earning_period_start"
                        ELSE "t8"."pay_period_start"
                      END < DATE_FROM_PARTS(2017, 12, 1)
                    )
                    OR (
                      CASE
                        WHEN (
                          "t8"."earning_period_start" IS NOT NULL
                        )
                        AND (
                          "t8"."earning_period_end" IS NOT NULL
                        )
                        THEN "t8"."earning_period_end"
                        ELSE "t8"."pay_period_end"
                      END >= DATE_FROM_PARTS(2023, 8, 1)
                    ),
                    FALSE
                  )
                  THEN 5
                  WHEN COALESCE(NOT (
                    "t8"."_sp_person" IS NOT NULL
                  ), FALSE)
                  THEN 6
                  ELSE CAST(NULL AS INT)
                END AS "rule_code"
              FROM (
                SELECT
                  "t9"."report_id",
                  "t9"."report_ref",
                  "t9"."version",
                  "t9"."action",
                  "t9"."person_id",
                  "t9"."payer_id",
                  "t9"."payment_date",
                  "t9"."pay_period_start",
                  "t9"."pay_period_end",
                  "t9"."earning_period_start",
                  "t9"."earning_period_end",
                  "t9"."income_type",
                  "t9"."amount_eur",
                  "t9"."subsidised",
                  "t9"."recovery",
                  "t9"."orig_payment_date",
                  "t9"."_lp",
                  "t9"."_lr",
                  "t9"."_lv",
                  "t9"."_latest",
                  "t10"."_sp_person"
                FROM (
                  SELECT
                    "t11"."report_id",
                    "t11"."report_ref",
                    "t11"."version",
                    "t11"."action",
                    "t11"."person_id",
                    "t11"."payer_id",
                    "t11"."payment_date",
                    "t11"."pay_period_start",
                    "t11"."pay_period_end",
                    "t11"."earning_period_start",
                    "t11"."earning_period_end",
                    "t11"."income_type",
                    "t11"."amount_eur",
                    "t11"."subsidised",
                    "t11"."recovery",
                    "t11"."orig_payment_date",
                    "t11"."_lp",
                    "t11"."_lr",
                    "t11"."_lv",
                    GREATEST("t11"."version", COALESCE("t11"."_lv", "t11"."version")) AS "_latest"
                  FROM (
                    SELECT
                      "t12"."report_id",
                      "t12"."report_ref",
                      "t12"."version",
                      "t12"."action",
                      "t12"."person_id",
                      "t12"."payer_id",
                      "t12"."payment_date",
                      "t12"."pay_period_start",
                      "t12"."pay_period_end",
                      "t12"."earning_period_start",
                      "t12"."earning_period_end",
                      "t12"."income_type",
                      "t12"."amount_eur",
                      "t12"."subsidised",
                      "t12"."recovery",
                      "t12"."orig_payment_date",
                      "t13"."_lp",
                      "t13"."_lr",
                      "t13"."_lv"
                    FROM "earnings_reports" AS "t12"
                    LEFT OUTER JOIN (
                      SELECT
                        "t14"."payer_id" AS "_lp",
                        "t14"."report_ref" AS "_lr",
                        MAX("t14"."version") AS "_lv"
                      FROM (
                        SELECT
                          *
                        FROM "earnings_reports" AS "t15"
                        WHERE
                          "t15"."version" > 1
                      ) AS "t14"
                      GROUP BY
                        1,
                        2
                    ) AS "t13"
                      ON "t12"."payer_id" = "t13"."_lp" AND "t12"."report_ref" = "t13"."_lr"
                  ) AS "t11"
                ) AS "t9"
                LEFT OUTER JOIN (
                  SELECT DISTINCT
                    "t16"."person_id" AS "_sp_person"
                  FROM (
                    SELECT DISTINCT
                      *
                    FROM (
                      SELECT
                        *
                      FROM (
                        SELECT
                          "t17"."person_id"
                        FROM "service_spells" AS "t17"
                      ) AS "t18"
                      UNION ALL
                      SELECT
                        *
                      FROM (
                        SELECT
                          "t19"."person_id"
                        FROM "jobseeking_spells" AS "t19"
                      ) AS "t20"
                    ) AS "t21"
                  ) AS "t16"
                ) AS "t10"
                  ON "t9"."person_id" = "t10"."_sp_person"
              ) AS "t8"
            ) AS "t7"
          ) AS "t6"
        ) AS "t4"
        INNER JOIN (
          SELECT
            *
          FROM (
            SELECT
              "t22"."span",
              "t23"."k"
            FROM (
              SELECT
                "t24"."v" AS "span"
              FROM "impact_const_58e6fc4b07" AS "t24"
            ) AS "t22"
            CROSS JOIN (
              SELECT
                "t24"."v" AS "k"
              FROM "impact_const_58e6fc4b07" AS "t24"
            ) AS "t23"
          ) AS "t25"
          WHERE
            "t25"."k" <= "t25"."span"
        ) AS "t5"
          ON "t4"."span" = "t5"."span"
      ) AS "t26"
    ) AS "t2"
    INNER JOIN "impact_const_a7a2648d43" AS "t3"
      ON "t2"."alloc_month" = "t3"."month"
  ) AS "t1"
  GROUP BY
    1,
    2
) AS "t0";

-- person_month
CREATE OR REPLACE TABLE "impact_person_month" AS
SELECT
  *
FROM "impact_person_month_with_counts" AS "t0"
WHERE
  "t0"."month" >= 0;

-- segment_baseline
CREATE OR REPLACE TABLE "impact_segment_baseline" AS
SELECT
  "t0"."age_band",
  "t1"."k_sex" AS "sex",
  "t1"."k_education" AS "education",
  "t1"."k_employment_area" AS "employment_area",
  "t0"."month",
  "t0"."cum_base"
FROM (
  SELECT
    "t2"."cell",
    "t2"."age_band",
    "t2"."month",
    SUM("t2"."base") OVER (
      PARTITION BY "t2"."cell", "t2"."age_band"
      ORDER BY "t2"."month" ASC
      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) AS "cum_base"
  FROM (
    SELECT
      "t3"."cell",
      "t3"."age_band",
      "t4"."month",
      COALESCE("t5"."earn", 0.0) / CAST("t3"."n_persons" AS DOUBLE) AS "base"
    FROM (
      SELECT
        "t6"."year",
        "t6"."cell",
        CASE
          WHEN (
            "t6"."year" - "t6"."c_birth"
          ) >= 60
          THEN 60
          WHEN (
            "t6"."year" - "t6"."c_birth"
          ) >= 50
          THEN 50
          WHEN (
            "t6"."year" - "t6"."c_birth"
          ) >= 40
          THEN 40
          WHEN (
            "t6"."year" - "t6"."c_birth"
          ) >= 30
          THEN 30
          WHEN (
            "t6"."year" - "t6"."c_birth"
          ) >= 25
          THEN 25
          ELSE 0
        END AS "age_band",
        COUNT(*) AS "n_persons"
      FROM (
        SELECT
          "t7"."person_id" AS "c_person",
          CAST("t1"."cell" AS INT) AS "cell",
          CAST("t7"."birth_year" AS INT) AS "c_birth",
          "t8"."year"
        FROM "persons" AS "t7"
        INNER JOIN (
          SELECT
            "t9"."k_sex",
            "t9"."k_education",
            "t9"."k_employment_area",
            ROW_NUMBER() OVER (ORDER BY "t9"."k_sex" ASC, "t9"."k_education" ASC, "t9"."k_employment_area" ASC) - 1 AS "cell"
          FROM (
            SELECT DISTINCT
              "t10"."sex" AS "k_sex",
              "t10"."education" AS "k_education",
              "t10"."employment_area" AS "k_employment_area"
            FROM "persons" AS "t10"
          ) AS "t9"
        ) AS "t1"
          ON "t7"."sex" IS NOT DISTINCT FROM "t1"."k_sex"
          AND "t7"."education" IS NOT DISTINCT FROM "t1"."k_education"
          AND "t7"."employment_area" IS NOT DISTINCT FROM "t1"."k_employment_area"
        CROSS JOIN "impact_const_e889c24e91" AS "t8"
      ) AS "t6"
      GROUP BY
        1,
        2,
        3
    ) AS "t3"
    INNER JOIN "impact_const_7298c604f7" AS "t4"
      ON "t3"."year" = CAST(CAST(FLOOR((
        "t4"."month"
      ) / (
        12
      )) AS BIGINT) AS INT)
    LEFT OUTER JOIN (
      SELECT
        "t11"."month" AS "s_month",
        "t11"."cell" AS "s_cell",
        "t11"."age_band" AS "s_age_band",
        "t11"."earn"
      FROM (
        SELECT
          "t12"."month",
          "t12"."cell",
          CASE
            WHEN (
              CAST(CAST(FLOOR((
                "t12"."month"
              ) / (
                12
              )) AS BIGINT) AS INT) - "t12"."c_birth"
            ) >= 60
            THEN 60
            WHEN (
              CAST(CAST(FLOOR((
                "t12"."month"
              ) / (
                12
              )) AS BIGINT) AS INT) - "t12"."c_birth"
            ) >= 50
            THEN 50
            WHEN (
              CAST(CAST(FLOOR((
                "t12"."month"
              ) / (
                12
              )) AS BIGINT) AS INT) - "t12"."c_birth"
            ) >= 40
            THEN 40
            WHEN (
              CAST(CAST(FLOOR((
                "t12"."month"
              ) / (
                12
              )) AS BIGINT) AS INT) - "t12"."c_birth"
            ) >= 30
            THEN 30
            WHEN (
              CAST(CAST(FLOOR((
                "t12"."month"
              ) / (
                12
              )) AS BIGINT) AS INT) - "t12"."c_birth"
            ) >= 25
            THEN 25
            ELSE 0
          END AS "age_band",
          SUM("t12"."earnings_eur") AS "earn"
        FROM (
          SELECT
            "t13"."person_id",
            "t13"."month",
            "t13"."earnings_eur",
            "t13"."subsidised_eur",
            "t13"."employed",
            "t13"."subsidised",
            "t13"."first_work_day",
            "t14"."c_person",
            "t14"."cell",
            "t14"."c_birth"
          FROM (
            SELECT
              *
            FROM "impact_person_month" AS "t15"
            WHERE
              "t15"."month" >= 24215 AND "t15"."month" <= 24281
          ) AS "t13"
          INNER JOIN (
            SELECT
              "t7"."person_id" AS "c_person",
              CAST("t1"."cell" AS INT) AS "cell",
              CAST("t7"."birth_year" AS INT) AS "c_birth"
            FROM "persons" AS "t7"
            INNER JOIN (
              SELECT
                "t9"."k_sex",
                "t9"."k_education",
                "t9"."k_employment_area",
                ROW_NUMBER() OVER (ORDER BY "t9"."k_sex" ASC, "t9"."k_education" ASC, "t9"."k_employment_area" ASC) - 1 AS "cell"
              FROM (
                SELECT DISTINCT
                  "t10"."sex" AS "k_sex",
                  "t10"."education" AS "k_education",
                  "t10"."employment_area" AS "k_employment_area"
                FROM "persons" AS "t10"
              ) AS "t9"
            ) AS "t1"
              ON "t7"."sex" IS NOT DISTINCT FROM "t1"."k_sex"
              AND "t7"."education" IS NOT DISTINCT FROM "t1"."k_education"
              AND "t7"."employment_area" IS NOT DISTINCT FROM "t1"."k_employment_area"
          ) AS "t14"
            ON "t13"."person_id" = "t14"."c_person"
        ) AS "t12"
        GROUP BY
          1,
          2,
          3
      ) AS "t11"
    ) AS "t5"
      ON "t3"."cell" = "t5"."s_cell"
      AND "t3"."age_band" = "t5"."s_age_band"
      AND "t4"."month" = "t5"."s_month"
  ) AS "t2"
) AS "t0"
INNER JOIN (
  SELECT
    "t9"."k_sex",
    "t9"."k_education",
    "t9"."k_employment_area",
    ROW_NUMBER() OVER (ORDER BY "t9"."k_sex" ASC, "t9"."k_education" ASC, "t9"."k_employment_area" ASC) - 1 AS "cell"
  FROM (
    SELECT DISTINCT
      "t10"."sex" AS "k_sex",
      "t10"."education" AS "k_education",
      "t10"."employment_area" AS "k_employment_area"
    FROM "persons" AS "t10"
  ) AS "t9"
) AS "t1"
  ON "t0"."cell" = "t1"."cell";

-- service_window
CREATE OR REPLACE TABLE "impact_service_window" AS
SELECT
  "t0"."w_unit",
  MAX(
    CASE
      WHEN (
        (
          "t0"."month" - "t0"."e"
        ) = 1
      ) AND "t0"."employed"
      THEN 1
      ELSE 0
    END
  ) AS "w_emp1",
  MAX(
    CASE
      WHEN (
        (
          "t0"."month" - "t0"."e"
        ) = 3
      ) AND "t0"."employed"
      THEN 1
      ELSE 0
    END
  ) AS "w_emp3",
  MAX(
    CASE
      WHEN (
        (
          "t0"."month" - "t0"."e"
        ) = 6
      ) AND "t0"."employed"
      THEN 1
      ELSE 0
    END
  ) AS "w_emp6",
  MAX(
    CASE
      WHEN (
        (
          "t0"."month" - "t0"."e"
        ) = 12
      ) AND "t0"."employed"
      THEN 1
      ELSE 0
    END
  ) AS "w_emp12",
  SUM(
    CASE
      WHEN (
        (
          "t0"."month" - "t0"."e"
        ) >= 1
      )
      AND (
        (
          "t0"."month" - "t0"."e"
        ) <= 6
      )
      AND "t0"."employed"
      THEN 1
      ELSE 0
    END
  ) AS "w_nemp6",
  SUM(
    CASE
      WHEN (
        (
          "t0"."month" - "t0"."e"
        ) >= 1
      )
      AND (
        (
          "t0"."month" - "t0"."e"
        ) <= 12
      )
      AND "t0"."employed"
      THEN 1
      ELSE 0
    END
  ) AS "w_nemp12",
  SUM(
    CASE
      WHEN (
        (
          "t0"."month" - "t0"."e"
        ) >= 1
      )
      AND (
        (
          "t0"."month" - "t0"."e"
        ) <= 12
      )
      THEN "t0"."earnings_eur"
      ELSE 0.0
    END
  ) AS "w_earn1_12",
  SUM(
    CASE
      WHEN (
        (
          "t0"."month" - "t0"."e"
        ) >= 13
      )
      AND (
        (
          "t0"."month" - "t0"."e"
        ) <= 24
      )
      THEN "t0"."earnings_eur"
      ELSE 0.0
    END
  ) AS "w_earn13_24",
  MIN(
    CASE
      WHEN COALESCE((
        "t0"."month" - "t0"."e"
      ) >= 1, FALSE) AND "t0"."employed"
      THEN "t0"."month"
      ELSE CAST(NULL AS INT)
    END
  ) AS "w_fe_month",
  MIN(
    CASE
      WHEN COALESCE((
        "t0"."month" - "t0"."e"
      ) >= 1, FALSE) AND "t0"."employed"
      THEN "t0"."first_work_day"
      ELSE CAST(NULL AS INT)
    END
  ) AS "w_fe_day"
FROM (
  SELECT
    "t1"."w_unit",
    "t1"."w_person",
    "t1"."e",
    "t1"."s",
    "t1"."lo",
    "t1"."hi",
    "t2"."person_id",
    "t2"."month",
    "t2"."earnings_eur",
    "t2"."subsidised_eur",
    "t2"."employed",
    "t2"."subsidised",
    "t2"."first_work_day"
  FROM (
    SELECT
      "t3"."unit_id" AS "w_unit",
      "t3"."person_id" AS "w_person",
      "t3"."end_month" AS "e",
      "t3"."start_month" AS "s",
      "t3"."end_month" AS "lo",
      "t3"."end_month" + 24 AS "hi"
    FROM (
      SELECT
        "t4"."service_id",
        "t4"."person_id",
        "t4"."service_type",
        "t4"."start_date",
        "t4"."end_date",
        "t4"."end_reason",
        "t4"."provider_id",
        "t4"."course_id",
        "t4"."cost_eur",
        "t4"."service_id" AS "unit_id",
        (
          (
            DATE_PART(year, "t4"."end_date") * 12
          ) + DATE_PART(month, "t4"."end_date")
        ) - 1 AS "end_month",
        (
          (
            DATE_PART(year, "t4"."start_date") * 12
          ) + DATE_PART(month, "t4"."start_date")
        ) - 1 AS "start_month"
      FROM "service_spells" AS "t4"
      WHERE
        CASE
          WHEN "t4"."start_date" > DATE_FROM_PARTS(2023, 6, 30)
          THEN 'service_starts_after_extraction'
          WHEN "t4"."end_date" IS NULL
          THEN 'service_ongoing'
          WHEN "t4"."end_date" > DATE_FROM_PARTS(2023, 6, 30)
          THEN 'service_ends_after_extraction'
          ELSE CAST(NULL AS VARCHAR)
        END IS NULL
    ) AS "t3"
    WHERE
      "t3"."end_month" IS NOT NULL
  ) AS "t1"
  INNER JOIN (
    SELECT
      *
    FROM "impact_person_month" AS "t5"
    WHERE
      "t5"."month" <= 24281
  ) AS "t2"
    ON "t1"."w_person" = "t2"."person_id"
    AND "t2"."month" > "t1"."lo"
    AND "t2"."month" <= "t1"."hi"
) AS "t0"
GROUP BY
  1;

-- spell_window
CREATE OR REPLACE TABLE "impact_spell_window" AS
SELECT
  "t0"."w_unit",
  MAX(
    CASE
      WHEN (
        (
          "t0"."month" - "t0"."e"
        ) = 1
      ) AND "t0"."employed"
      THEN 1
      ELSE 0
    END
  ) AS "w_emp1",
  MAX(
    CASE
      WHEN (
        (
          "t0"."month" - "t0"."e"
        ) = 3
      ) AND "t0"."employed"
      THEN 1
      ELSE 0
    END
  ) AS "w_emp3",
  MAX(
    CASE
      WHEN (
        (
          "t0"."month" - "t0"."e"
        ) = 6
      ) AND "t0"."employed"
      THEN 1
      ELSE 0
    END
  ) AS "w_emp6",
  MAX(
    CASE
      WHEN (
        (
          "t0"."month" - "t0"."e"
        ) = 12
      ) AND "t0"."employed"
      THEN 1
      ELSE 0
    END
  ) AS "w_emp12",
  SUM(
    CASE
      WHEN (
        (
          "t0"."month" - "t0"."e"
        ) >= 1
      )
      AND (
        (
          "t0"."month" - "t0"."e"
        ) <= 6
      )
      AND "t0"."employed"
      THEN 1
      ELSE 0
    END
  ) AS "w_nemp6",
  SUM(
    CASE
      WHEN (
        (
          "t0"."month" - "t0"."e"
        ) >= 1
      )
      AND (
        (
          "t0"."month" - "t0"."e"
        ) <= 12
      )
      AND "t0"."employed"
      THEN 1
      ELSE 0
    END
  ) AS "w_nemp12",
  SUM(
    CASE
      WHEN (
        (
          "t0"."month" - "t0"."e"
        ) >= 1
      )
      AND (
        (
          "t0"."month" - "t0"."e"
        ) <= 12
      )
      THEN "t0"."earnings_eur"
      ELSE 0.0
    END
  ) AS "w_earn1_12",
  SUM(
    CASE
      WHEN (
        (
          "t0"."month" - "t0"."e"
        ) >= 13
      )
      AND (
        (
          "t0"."month" - "t0"."e"
        ) <= 24
      )
      THEN "t0"."earnings_eur"
      ELSE 0.0
    END
  ) AS "w_earn13_24",
  MIN(
    CASE
      WHEN COALESCE((
        "t0"."month" - "t0"."e"
      ) >= 1, FALSE) AND "t0"."employed"
      THEN "t0"."month"
      ELSE CAST(NULL AS INT)
    END
  ) AS "w_fe_month",
  MIN(
    CASE
      WHEN COALESCE((
        "t0"."month" - "t0"."e"
      ) >= 1, FALSE) AND "t0"."employed"
      THEN "t0"."first_work_day"
      ELSE CAST(NULL AS INT)
    END
  ) AS "w_fe_day",
  MIN(
    CASE
      WHEN (
        "t0"."month" > "t0"."s"
      ) AND "t0"."employed"
      THEN "t0"."month"
      ELSE CAST(NULL AS INT)
    END
  ) AS "w_fs_month",
  MIN(
    CASE
      WHEN (
        "t0"."month" > "t0"."s"
      ) AND "t0"."employed"
      THEN "t0"."first_work_day"
      ELSE CAST(NULL AS INT)
    END
  ) AS "w_fs_day"
FROM (
  SELECT
    "t1"."w_unit",
    "t1"."w_person",
    "t1"."e",
    "t1"."s",
    "t1"."lo",
    "t1"."hi",
    "t2"."person_id",
    "t2"."month",
    "t2"."earnings_eur",
    "t2"."subsidised_eur",
    "t2"."employed",
    "t2"."subsidised",
    "t2"."first_work_day"
  FROM (
    SELECT
      "t3"."unit_id" AS "w_unit",
      "t3"."person_id" AS "w_person",
      "t3"."end_month" AS "e",
      "t3"."start_month" AS "s",
      "t3"."start_month" AS "lo",
      COALESCE("t3"."end_month", 24281) + 24 AS "hi"
    FROM (
      SELECT
        "t4"."spell_id",
        "t4"."person_id",
        "t4"."start_date",
        "t4"."end_date",
        "t4"."status_at_start",
        "t4"."end_reason",
        "t4"."segment",
        "t4"."municipality",
        "t4"."spell_id" AS "unit_id",
        (
          (
            DATE_PART(year, "t4"."end_date") * 12
          ) + DATE_PART(month, "t4"."end_date")
        ) - 1 AS "end_month",
        (
          (
            DATE_PART(year, "t4"."start_date") * 12
          ) + DATE_PART(month, "t4"."start_date")
        ) - 1 AS "start_month"
      FROM (
        SELECT
          "t5"."person_id",
          "t5"."spell_id",
          "t5"."start_date",
          "t5"."end_date",
          "t5"."status_at_start",
          "t5"."end_reason",
          "t5"."segment",
          "t5"."municipality",
          CASE
            WHEN "t5"."start_date" > DATE_FROM_PARTS(2023, 6, 30)
            THEN 'spell_starts_after_extraction'
            WHEN (
              "t5"."end_date" IS NOT NULL
            )
            AND (
              "t5"."end_date" > DATE_FROM_PARTS(2023, 6, 30)
            )
            THEN 'spell_ends_after_extraction'
            ELSE CAST(NULL AS VARCHAR)
          END AS "drop_rule"
        FROM "jobseeking_spells" AS "t5"
      ) AS "t4"
      WHERE
        "t4"."drop_rule" IS NULL
    ) AS "t3"
    WHERE
      "t3"."start_month" IS NOT NULL
  ) AS "t1"
  INNER JOIN (
    SELECT
      *
    FROM "impact_person_month" AS "t6"
    WHERE
      "t6"."month" <= 24281
  ) AS "t2"
    ON "t1"."w_person" = "t2"."person_id"
    AND "t2"."month" > "t1"."lo"
    AND "t2"."month" <= "t1"."hi"
) AS "t0"
GROUP BY
  1;

-- service_late
CREATE OR REPLACE TABLE "impact_service_late" AS
SELECT
  "t0"."f_unit" AS "l_unit",
  MIN("t0"."x_month") AS "l_month",
  MIN("t0"."x_day") AS "l_day"
FROM (
  SELECT
    "t1"."f_unit",
    "t1"."f_person",
    "t1"."f_e",
    "t2"."x_person",
    "t2"."x_month",
    "t2"."x_day"
  FROM (
    SELECT
      "t3"."f_unit",
      "t3"."f_person",
      "t3"."f_e"
    FROM (
      SELECT
        "t4"."f_unit",
        "t4"."f_person",
        "t4"."f_e",
        "t5"."w_unit",
        "t5"."w_emp1",
        "t5"."w_emp3",
        "t5"."w_emp6",
        "t5"."w_emp12",
        "t5"."w_nemp6",
        "t5"."w_nemp12",
        "t5"."w_earn1_12",
        "t5"."w_earn13_24",
        "t5"."w_fe_month",
        "t5"."w_fe_day"
      FROM (
        SELECT
          *
        FROM (
          SELECT
            "t6"."service_id" AS "f_unit",
            "t6"."person_id" AS "f_person",
            (
              (
                DATE_PART(year, "t6"."end_date") * 12
              ) + DATE_PART(month, "t6"."end_date")
            ) - 1 AS "f_e"
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
        ) AS "t7"
        WHERE
          "t7"."f_e" IS NOT NULL
      ) AS "t4"
      LEFT OUTER JOIN "impact_service_window" AS "t5"
        ON "t4"."f_unit" = "t5"."w_unit"
    ) AS "t3"
    WHERE
      "t3"."w_fe_month" IS NULL
  ) AS "t1"
  INNER JOIN (
    SELECT
      "t8"."person_id" AS "x_person",
      "t8"."month" AS "x_month",
      "t8"."first_work_day" AS "x_day"
    FROM "impact_person_month" AS "t8"
    WHERE
      "t8"."month" <= 24281 AND "t8"."employed"
  ) AS "t2"
    ON "t1"."f_person" = "t2"."x_person" AND "t2"."x_month" > (
      "t1"."f_e" + 24
    )
) AS "t0"
GROUP BY
  1;

-- spell_late
CREATE OR REPLACE TABLE "impact_spell_late" AS
SELECT
  "t0"."f_unit" AS "l_unit",
  MIN("t0"."x_month") AS "l_month",
  MIN("t0"."x_day") AS "l_day"
FROM (
  SELECT
    "t1"."f_unit",
    "t1"."f_person",
    "t1"."f_e",
    "t2"."x_person",
    "t2"."x_month",
    "t2"."x_day"
  FROM (
    SELECT
      "t3"."f_unit",
      "t3"."f_person",
      "t3"."f_e"
    FROM (
      SELECT
        "t4"."f_unit",
        "t4"."f_person",
        "t4"."f_e",
        "t5"."w_unit",
        "t5"."w_emp1",
        "t5"."w_emp3",
        "t5"."w_emp6",
        "t5"."w_emp12",
        "t5"."w_nemp6",
        "t5"."w_nemp12",
        "t5"."w_earn1_12",
        "t5"."w_earn13_24",
        "t5"."w_fe_month",
        "t5"."w_fe_day",
        "t5"."w_fs_month",
        "t5"."w_fs_day"
      FROM (
        SELECT
          *
        FROM (
          SELECT
            "t6"."spell_id" AS "f_unit",
            "t6"."person_id" AS "f_person",
            (
              (
                DATE_PART(year, "t6"."end_date") * 12
              ) + DATE_PART(month, "t6"."end_date")
            ) - 1 AS "f_e"
          FROM (
            SELECT
              "t7"."person_id",
              "t7"."spell_id",
              "t7"."start_date",
              "t7"."end_date",
              "t7"."status_at_start",
              "t7"."end_reason",
              "t7"."segment",
              "t7"."municipality",
              CASE
                WHEN "t7"."start_date" > DATE_FROM_PARTS(2023, 6, 30)
                THEN 'spell_starts_after_extraction'
                WHEN (
                  "t7"."end_date" IS NOT NULL
                )
                AND (
                  "t7"."end_date" > DATE_FROM_PARTS(2023, 6, 30)
                )
                THEN 'spell_ends_after_extraction'
                ELSE CAST(NULL AS VARCHAR)
              END AS "drop_rule"
            FROM "jobseeking_spells" AS "t7"
          ) AS "t6"
          WHERE
            "t6"."drop_rule" IS NULL
        ) AS "t8"
        WHERE
          "t8"."f_e" IS NOT NULL
      ) AS "t4"
      LEFT OUTER JOIN "impact_spell_window" AS "t5"
        ON "t4"."f_unit" = "t5"."w_unit"
    ) AS "t3"
    WHERE
      "t3"."w_fe_month" IS NULL
  ) AS "t1"
  INNER JOIN (
    SELECT
      "t9"."person_id" AS "x_person",
      "t9"."month" AS "x_month",
      "t9"."first_work_day" AS "x_day"
    FROM "impact_person_month" AS "t9"
    WHERE
      "t9"."month" <= 24281 AND "t9"."employed"
  ) AS "t2"
    ON "t1"."f_person" = "t2"."x_person" AND "t2"."x_month" > (
      "t1"."f_e" + 24
    )
) AS "t0"
GROUP BY
  1;

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
        WHEN CASE
          WHEN "t2"."w_fe_month" IS NOT NULL
          THEN "t2"."w_fe_month"
          ELSE "t3"."l_month"
        END IS NOT NULL
        THEN CASE
          WHEN "t2"."w_fe_month" IS NOT NULL
          THEN "t2"."w_fe_month"
          ELSE "t3"."l_month"
        END - "t1"."end_month"
        WHEN "t1"."end_month" IS NOT NULL
        THEN 24281 - "t1"."end_month"
        ELSE CAST(NULL AS INT)
      END AS INT) AS "months_to_employment",
      CASE
        WHEN "t1"."end_month" IS NOT NULL
        THEN NOT (
          CASE
            WHEN "t2"."w_fe_month" IS NOT NULL
            THEN "t2"."w_fe_month"
            ELSE "t3"."l_month"
          END IS NOT NULL
        )
        ELSE CAST(NULL AS BOOLEAN)
      END AS "censored",
      CAST(CASE
        WHEN CASE
          WHEN "t2"."w_fe_month" IS NOT NULL
          THEN "t2"."w_fe_month"
          ELSE "t3"."l_month"
        END IS NOT NULL
        THEN CASE WHEN "t2"."w_fe_month" IS NOT NULL THEN "t2"."w_fe_day" ELSE "t3"."l_day" END - CAST(DATEDIFF(DAY, DATE_FROM_PARTS(1970, 1, 1), "t1"."end_date") AS INT)
        ELSE CAST(NULL AS INT)
      END AS INT) AS "days_to_employment",
      CASE
        WHEN (
          CASE
            WHEN "t2"."w_fe_month" IS NOT NULL
            THEN "t2"."w_fe_month"
            ELSE "t3"."l_month"
          END IS NOT NULL
        )
        AND (
          (
            CASE
              WHEN "t2"."w_fe_month" IS NOT NULL
              THEN "t2"."w_fe_month"
              ELSE "t3"."l_month"
            END + 3
          ) <= 24281
        )
        THEN COALESCE("t4"."rt3", 0) = 1
        ELSE CAST(NULL AS BOOLEAN)
      END AS "returned_3m",
      CASE
        WHEN (
          CASE
            WHEN "t2"."w_fe_month" IS NOT NULL
            THEN "t2"."w_fe_month"
            ELSE "t3"."l_month"
          END IS NOT NULL
        )
        AND (
          (
            CASE
              WHEN "t2"."w_fe_month" IS NOT NULL
              THEN "t2"."w_fe_month"
              ELSE "t3"."l_month"
            END + 6
          ) <= 24281
        )
        THEN COALESCE("t4"."rt6", 0) = 1
        ELSE CAST(NULL AS BOOLEAN)
      END AS "returned_6m",
      CASE
        WHEN (
          CASE
            WHEN "t2"."w_fe_month" IS NOT NULL
            THEN "t2"."w_fe_month"
            ELSE "t3"."l_month"
          END IS NOT NULL
        )
        AND (
          (
            CASE
              WHEN "t2"."w_fe_month" IS NOT NULL
              THEN "t2"."w_fe_month"
              ELSE "t3"."l_month"
            END + 12
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
    LEFT OUTER JOIN "impact_service_window" AS "t2"
      ON "t1"."unit_id" = "t2"."w_unit"
    LEFT OUTER JOIN "impact_service_late" AS "t3"
      ON "t1"."unit_id" = "t3"."l_unit"
    LEFT OUTER JOIN (
      SELECT
        "t7"."fe_unit" AS "rt_unit",
        MAX(CASE WHEN "t7"."s_month" <= (
          "t7"."fe_month" + 3
        ) THEN 1 ELSE 0 END) AS "rt3",
        MAX(CASE WHEN "t7"."s_month" <= (
          "t7"."fe_month" + 6
        ) THEN 1 ELSE 0 END) AS "rt6",
        MAX(CASE WHEN "t7"."s_month" <= (
          "t7"."fe_month" + 12
        ) THEN 1 ELSE 0 END) AS "rt12"
      FROM (
        SELECT
          "t8"."fe_unit",
          "t8"."fe_person",
          "t8"."fe_month",
          "t9"."s_person",
          "t9"."s_month"
        FROM (
          SELECT
            *
          FROM (
            SELECT
              "t10"."f_unit" AS "fe_unit",
              "t10"."f_person" AS "fe_person",
              COALESCE("t2"."w_fe_month", "t3"."l_month") AS "fe_month"
            FROM (
              SELECT
                *
              FROM (
                SELECT
                  "t6"."service_id" AS "f_unit",
                  "t6"."person_id" AS "f_person",
                  (
                    (
                      DATE_PART(year, "t6"."end_date") * 12
                    ) + DATE_PART(month, "t6"."end_date")
                  ) - 1 AS "f_e"
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
              ) AS "t11"
              WHERE
                "t11"."f_e" IS NOT NULL
            ) AS "t10"
            LEFT OUTER JOIN "impact_service_window" AS "t2"
              ON "t10"."f_unit" = "t2"."w_unit"
            LEFT OUTER JOIN "impact_service_late" AS "t3"
              ON "t10"."f_unit" = "t3"."l_unit"
          ) AS "t12"
          WHERE
            "t12"."fe_month" IS NOT NULL
        ) AS "t8"
        INNER JOIN (
          SELECT
            "t13"."person_id" AS "s_person",
            (
              (
                DATE_PART(year, "t13"."start_date") * 12
              ) + DATE_PART(month, "t13"."start_date")
            ) - 1 AS "s_month"
          FROM (
            SELECT
              "t14"."person_id",
              "t14"."spell_id",
              "t14"."start_date",
              "t14"."end_date",
              "t14"."status_at_start",
              "t14"."end_reason",
              "t14"."segment",
              "t14"."municipality",
              CASE
                WHEN "t14"."start_date" > DATE_FROM_PARTS(2023, 6, 30)
                THEN 'spell_starts_after_extraction'
                WHEN (
                  "t14"."end_date" IS NOT NULL
                )
                AND (
                  "t14"."end_date" > DATE_FROM_PARTS(2023, 6, 30)
                )
                THEN 'spell_ends_after_extraction'
                ELSE CAST(NULL AS VARCHAR)
              END AS "drop_rule"
            FROM "jobseeking_spells" AS "t14"
          ) AS "t13"
          WHERE
            "t13"."drop_rule" IS NULL
        ) AS "t9"
          ON "t8"."fe_person" = "t9"."s_person"
          AND "t9"."s_month" >= (
            "t8"."fe_month" + 1
          )
          AND "t9"."s_month" <= (
            "t8"."fe_month" + 12
          )
      ) AS "t7"
      GROUP BY
        1
    ) AS "t4"
      ON "t1"."unit_id" = "t4"."rt_unit"
    LEFT OUTER JOIN (
      SELECT
        "t15"."c_unit" AS "b_unit",
        (
          "t16"."hi1_12_cum" - "t17"."lo1_12_cum"
        ) / 12 AS "b1_12",
        (
          "t18"."hi13_24_cum" - "t19"."lo13_24_cum"
        ) / 12 AS "b13_24"
      FROM (
        SELECT
          "t20"."c_unit",
          "t20"."c_pid",
          "t20"."c_end",
          "t20"."c_year",
          "t20"."c_person",
          "t20"."c_birth",
          "t20"."c_sex",
          "t20"."c_education",
          "t20"."c_employment_area",
          CASE
            WHEN (
              "t20"."c_year" - CAST("t20"."c_birth" AS INT)
            ) >= 60
            THEN 60
            WHEN (
              "t20"."c_year" - CAST("t20"."c_birth" AS INT)
            ) >= 50
            THEN 50
            WHEN (
              "t20"."c_year" - CAST("t20"."c_birth" AS INT)
            ) >= 40
            THEN 40
            WHEN (
              "t20"."c_year" - CAST("t20"."c_birth" AS INT)
            ) >= 30
            THEN 30
            WHEN (
              "t20"."c_year" - CAST("t20"."c_birth" AS INT)
            ) >= 25
            THEN 25
            ELSE 0
          END AS "c_age_band"
        FROM (
          SELECT
            "t21"."c_unit",
            "t21"."c_pid",
            "t21"."c_end",
            "t21"."c_year",
            "t22"."c_person",
            "t22"."c_birth",
            "t22"."c_sex",
            "t22"."c_education",
            "t22"."c_employment_area"
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
            ) AS "t23"
            WHERE
              "t23"."c_end" IS NOT NULL
          ) AS "t21"
          INNER JOIN (
            SELECT
              "t24"."person_id" AS "c_person",
              "t24"."birth_year" AS "c_birth",
              "t24"."sex" AS "c_sex",
              "t24"."education" AS "c_education",
              "t24"."employment_area" AS "c_employment_area"
            FROM "persons" AS "t24"
          ) AS "t22"
            ON "t21"."c_pid" = "t22"."c_person"
        ) AS "t20"
      ) AS "t15"
      LEFT OUTER JOIN (
        SELECT
          "t25"."age_band" AS "lo1_12_age_band",
          "t25"."sex" AS "lo1_12_sex",
          "t25"."education" AS "lo1_12_education",
          "t25"."employment_area" AS "lo1_12_employment_area",
          "t25"."month" AS "lo1_12_month",
          "t25"."cum_base" AS "lo1_12_cum"
        FROM "impact_segment_baseline" AS "t25"
      ) AS "t17"
        ON "t15"."c_age_band" = "t17"."lo1_12_age_band"
        AND "t15"."c_sex" = "t17"."lo1_12_sex"
        AND "t15"."c_education" = "t17"."lo1_12_education"
        AND "t15"."c_employment_area" = "t17"."lo1_12_employment_area"
        AND (
          "t15"."c_end" + 0
        ) = "t17"."lo1_12_month"
      LEFT OUTER JOIN (
        SELECT
          "t25"."age_band" AS "hi1_12_age_band",
          "t25"."sex" AS "hi1_12_sex",
          "t25"."education" AS "hi1_12_education",
          "t25"."employment_area" AS "hi1_12_employment_area",
          "t25"."month" AS "hi1_12_month",
          "t25"."cum_base" AS "hi1_12_cum"
        FROM "impact_segment_baseline" AS "t25"
      ) AS "t16"
        ON "t15"."c_age_band" = "t16"."hi1_12_age_band"
        AND "t15"."c_sex" = "t16"."hi1_12_sex"
        AND "t15"."c_education" = "t16"."hi1_12_education"
        AND "t15"."c_employment_area" = "t16"."hi1_12_employment_area"
        AND (
          "t15"."c_end" + 12
        ) = "t16"."hi1_12_month"
      LEFT OUTER JOIN (
        SELECT
          "t25"."age_band" AS "lo13_24_age_band",
          "t25"."sex" AS "lo13_24_sex",
          "t25"."education" AS "lo13_24_education",
          "t25"."employment_area" AS "lo13_24_employment_area",
          "t25"."month" AS "lo13_24_month",
          "t25"."cum_base" AS "lo13_24_cum"
        FROM "impact_segment_baseline" AS "t25"
      ) AS "t19"
        ON "t15"."c_age_band" = "t19"."lo13_24_age_band"
        AND "t15"."c_sex" = "t19"."lo13_24_sex"
        AND "t15"."c_education" = "t19"."lo13_24_education"
        AND "t15"."c_employment_area" = "t19"."lo13_24_employment_area"
        AND (
          "t15"."c_end" + 12
        ) = "t19"."lo13_24_month"
      LEFT OUTER JOIN (
        SELECT
          "t25"."age_band" AS "hi13_24_age_band",
          "t25"."sex" AS "hi13_24_sex",
          "t25"."education" AS "hi13_24_education",
          "t25"."employment_area" AS "hi13_24_employment_area",
          "t25"."month" AS "hi13_24_month",
          "t25"."cum_base" AS "hi13_24_cum"
        FROM "impact_segment_baseline" AS "t25"
      ) AS "t18"
        ON "t15"."c_age_band" = "t18"."hi13_24_age_band"
        AND "t15"."c_sex" = "t18"."hi13_24_sex"
        AND "t15"."c_education" = "t18"."hi13_24_education"
        AND "t15"."c_employment_area" = "t18"."hi13_24_employment_area"
        AND (
          "t15"."c_end" + 24
        ) = "t18"."hi13_24_month"
    ) AS "t5"
      ON "t1"."unit_id" = "t5"."b_unit"
  ) AS "t0"
) AS "t26"
ORDER BY
  "t26"."service_id" ASC;

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
        WHEN CASE
          WHEN "t4"."w_fs_month" IS NOT NULL
          THEN "t4"."w_fs_month"
          ELSE "t5"."l_month"
        END IS NOT NULL
        THEN CASE
          WHEN "t4"."w_fs_month" IS NOT NULL
          THEN "t4"."w_fs_month"
          ELSE "t5"."l_month"
        END - "t3"."start_month"
        WHEN "t3"."start_month" IS NOT NULL
        THEN 24281 - "t3"."start_month"
        ELSE CAST(NULL AS INT)
      END AS INT) AS "months_to_employment_from_start",
      CASE
        WHEN "t3"."start_month" IS NOT NULL
        THEN NOT (
          CASE
            WHEN "t4"."w_fs_month" IS NOT NULL
            THEN "t4"."w_fs_month"
            ELSE "t5"."l_month"
          END IS NOT NULL
        )
        ELSE CAST(NULL AS BOOLEAN)
      END AS "censored_from_start",
      CAST(CASE
        WHEN CASE
          WHEN "t4"."w_fs_month" IS NOT NULL
          THEN "t4"."w_fs_month"
          ELSE "t5"."l_month"
        END IS NOT NULL
        THEN CASE WHEN "t4"."w_fs_month" IS NOT NULL THEN "t4"."w_fs_day" ELSE "t5"."l_day" END - CAST(DATEDIFF(DAY, DATE_FROM_PARTS(1970, 1, 1), "t3"."start_date") AS INT)
        ELSE CAST(NULL AS INT)
      END AS INT) AS "days_to_employment_from_start",
      CAST(CASE
        WHEN CASE
          WHEN "t4"."w_fe_month" IS NOT NULL
          THEN "t4"."w_fe_month"
          ELSE "t5"."l_month"
        END IS NOT NULL
        THEN CASE
          WHEN "t4"."w_fe_month" IS NOT NULL
          THEN "t4"."w_fe_month"
          ELSE "t5"."l_month"
        END - "t3"."end_month"
        WHEN "t3"."end_month" IS NOT NULL
        THEN 24281 - "t3"."end_month"
        ELSE CAST(NULL AS INT)
      END AS INT) AS "months_to_employment",
      CASE
        WHEN "t3"."end_month" IS NOT NULL
        THEN NOT (
          CASE
            WHEN "t4"."w_fe_month" IS NOT NULL
            THEN "t4"."w_fe_month"
            ELSE "t5"."l_month"
          END IS NOT NULL
        )
        ELSE CAST(NULL AS BOOLEAN)
      END AS "censored",
      CAST(CASE
        WHEN CASE
          WHEN "t4"."w_fe_month" IS NOT NULL
          THEN "t4"."w_fe_month"
          ELSE "t5"."l_month"
        END IS NOT NULL
        THEN CASE WHEN "t4"."w_fe_month" IS NOT NULL THEN "t4"."w_fe_day" ELSE "t5"."l_day" END - CAST(DATEDIFF(DAY, DATE_FROM_PARTS(1970, 1, 1), "t3"."end_date") AS INT)
        ELSE CAST(NULL AS INT)
      END AS INT) AS "days_to_employment",
      CASE
        WHEN (
          CASE
            WHEN "t4"."w_fe_month" IS NOT NULL
            THEN "t4"."w_fe_month"
            ELSE "t5"."l_month"
          END IS NOT NULL
        )
        AND (
          (
            CASE
              WHEN "t4"."w_fe_month" IS NOT NULL
              THEN "t4"."w_fe_month"
              ELSE "t5"."l_month"
            END + 3
          ) <= 24281
        )
        THEN COALESCE("t6"."rt3", 0) = 1
        ELSE CAST(NULL AS BOOLEAN)
      END AS "returned_3m",
      CASE
        WHEN (
          CASE
            WHEN "t4"."w_fe_month" IS NOT NULL
            THEN "t4"."w_fe_month"
            ELSE "t5"."l_month"
          END IS NOT NULL
        )
        AND (
          (
            CASE
              WHEN "t4"."w_fe_month" IS NOT NULL
              THEN "t4"."w_fe_month"
              ELSE "t5"."l_month"
            END + 6
          ) <= 24281
        )
        THEN COALESCE("t6"."rt6", 0) = 1
        ELSE CAST(NULL AS BOOLEAN)
      END AS "returned_6m",
      CASE
        WHEN (
          CASE
            WHEN "t4"."w_fe_month" IS NOT NULL
            THEN "t4"."w_fe_month"
            ELSE "t5"."l_month"
          END IS NOT NULL
        )
        AND (
          (
            CASE
              WHEN "t4"."w_fe_month" IS NOT NULL
              THEN "t4"."w_fe_month"
              ELSE "t5"."l_month"
            END + 12
          ) <= 24281
        )
        THEN COALESCE("t6"."rt12", 0) = 1
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
        THEN "t7"."b1_12"
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
          THEN "t7"."b1_12"
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
          THEN "t7"."b1_12"
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
        THEN "t7"."b13_24"
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
          THEN "t7"."b13_24"
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
          THEN "t7"."b13_24"
          ELSE CAST(NULL AS DOUBLE)
        END
        ELSE CAST(NULL AS DOUBLE)
      END AS "rel_earnings_13_24m"
    FROM (
      SELECT
        "t8"."spell_id",
        "t8"."person_id",
        "t8"."start_date",
        "t8"."end_date",
        "t8"."status_at_start",
        "t8"."end_reason",
        "t8"."segment",
        "t8"."municipality",
        "t8"."spell_id" AS "unit_id",
        (
          (
            DATE_PART(year, "t8"."end_date") * 12
          ) + DATE_PART(month, "t8"."end_date")
        ) - 1 AS "end_month",
        (
          (
            DATE_PART(year, "t8"."start_date") * 12
          ) + DATE_PART(month, "t8"."start_date")
        ) - 1 AS "start_month"
      FROM "t0" AS "t8"
      WHERE
        "t8"."drop_rule" IS NULL
    ) AS "t3"
    LEFT OUTER JOIN "impact_spell_window" AS "t4"
      ON "t3"."unit_id" = "t4"."w_unit"
    LEFT OUTER JOIN "impact_spell_late" AS "t5"
      ON "t3"."unit_id" = "t5"."l_unit"
    LEFT OUTER JOIN (
      SELECT
        "t9"."fe_unit" AS "rt_unit",
        MAX(CASE WHEN "t9"."s_month" <= (
          "t9"."fe_month" + 3
        ) THEN 1 ELSE 0 END) AS "rt3",
        MAX(CASE WHEN "t9"."s_month" <= (
          "t9"."fe_month" + 6
        ) THEN 1 ELSE 0 END) AS "rt6",
        MAX(CASE WHEN "t9"."s_month" <= (
          "t9"."fe_month" + 12
        ) THEN 1 ELSE 0 END) AS "rt12"
      FROM (
        SELECT
          "t10"."fe_unit",
          "t10"."fe_person",
          "t10"."fe_month",
          "t11"."s_person",
          "t11"."s_month"
        FROM (
          SELECT
            *
          FROM (
            SELECT
              "t12"."f_unit" AS "fe_unit",
              "t12"."f_person" AS "fe_person",
              COALESCE("t4"."w_fe_month", "t5"."l_month") AS "fe_month"
            FROM (
              SELECT
                *
              FROM (
                SELECT
                  "t8"."spell_id" AS "f_unit",
                  "t8"."person_id" AS "f_person",
                  (
                    (
                      DATE_PART(year, "t8"."end_date") * 12
                    ) + DATE_PART(month, "t8"."end_date")
                  ) - 1 AS "f_e"
                FROM "t0" AS "t8"
                WHERE
                  "t8"."drop_rule" IS NULL
              ) AS "t13"
              WHERE
                "t13"."f_e" IS NOT NULL
            ) AS "t12"
            LEFT OUTER JOIN "impact_spell_window" AS "t4"
              ON "t12"."f_unit" = "t4"."w_unit"
            LEFT OUTER JOIN "impact_spell_late" AS "t5"
              ON "t12"."f_unit" = "t5"."l_unit"
          ) AS "t14"
          WHERE
            "t14"."fe_month" IS NOT NULL
        ) AS "t10"
        INNER JOIN (
          SELECT
            "t8"."person_id" AS "s_person",
            (
              (
                DATE_PART(year, "t8"."start_date") * 12
              ) + DATE_PART(month, "t8"."start_date")
            ) - 1 AS "s_month"
          FROM "t0" AS "t8"
          WHERE
            "t8"."drop_rule" IS NULL
        ) AS "t11"
          ON "t10"."fe_person" = "t11"."s_person"
          AND "t11"."s_month" >= (
            "t10"."fe_month" + 1
          )
          AND "t11"."s_month" <= (
            "t10"."fe_month" + 12
          )
      ) AS "t9"
      GROUP BY
        1
    ) AS "t6"
      ON "t3"."unit_id" = "t6"."rt_unit"
    LEFT OUTER JOIN (
      SELECT
        "t15"."c_unit" AS "b_unit",
        (
          "t16"."hi1_12_cum" - "t17"."lo1_12_cum"
        ) / 12 AS "b1_12",
        (
          "t18"."hi13_24_cum" - "t19"."lo13_24_cum"
        ) / 12 AS "b13_24"
      FROM (
        SELECT
          "t20"."c_unit",
          "t20"."c_pid",
          "t20"."c_end",
          "t20"."c_year",
          "t20"."c_person",
          "t20"."c_birth",
          "t20"."c_sex",
          "t20"."c_education",
          "t20"."c_employment_area",
          CASE
            WHEN (
              "t20"."c_year" - CAST("t20"."c_birth" AS INT)
            ) >= 60
            THEN 60
            WHEN (
              "t20"."c_year" - CAST("t20"."c_birth" AS INT)
            ) >= 50
            THEN 50
            WHEN (
              "t20"."c_year" - CAST("t20"."c_birth" AS INT)
            ) >= 40
            THEN 40
            WHEN (
              "t20"."c_year" - CAST("t20"."c_birth" AS INT)
            ) >= 30
            THEN 30
            WHEN (
              "t20"."c_year" - CAST("t20"."c_birth" AS INT)
            ) >= 25
            THEN 25
            ELSE 0
          END AS "c_age_band"
        FROM (
          SELECT
            "t21"."c_unit",
            "t21"."c_pid",
            "t21"."c_end",
            "t21"."c_year",
            "t22"."c_person",
            "t22"."c_birth",
            "t22"."c_sex",
            "t22"."c_education",
            "t22"."c_employment_area"
          FROM (
            SELECT
              *
            FROM (
              SELECT
                "t8"."spell_id" AS "c_unit",
                "t8"."person_id" AS "c_pid",
                (
                  (
                    DATE_PART(year, "t8"."end_date") * 12
                  ) + DATE_PART(month, "t8"."end_date")
                ) - 1 AS "c_end",
                DATE_PART(year, "t8"."end_date") AS "c_year"
              FROM "t0" AS "t8"
              WHERE
                "t8"."drop_rule" IS NULL
            ) AS "t23"
            WHERE
              "t23"."c_end" IS NOT NULL
          ) AS "t21"
          INNER JOIN (
            SELECT
              "t24"."person_id" AS "c_person",
              "t24"."birth_year" AS "c_birth",
              "t24"."sex" AS "c_sex",
              "t24"."education" AS "c_education",
              "t24"."employment_area" AS "c_employment_area"
            FROM "persons" AS "t24"
          ) AS "t22"
            ON "t21"."c_pid" = "t22"."c_person"
        ) AS "t20"
      ) AS "t15"
      LEFT OUTER JOIN (
        SELECT
          "t25"."age_band" AS "lo1_12_age_band",
          "t25"."sex" AS "lo1_12_sex",
          "t25"."education" AS "lo1_12_education",
          "t25"."employment_area" AS "lo1_12_employment_area",
          "t25"."month" AS "lo1_12_month",
          "t25"."cum_base" AS "lo1_12_cum"
        FROM "impact_segment_baseline" AS "t25"
      ) AS "t17"
        ON "t15"."c_age_band" = "t17"."lo1_12_age_band"
        AND "t15"."c_sex" = "t17"."lo1_12_sex"
        AND "t15"."c_education" = "t17"."lo1_12_education"
        AND "t15"."c_employment_area" = "t17"."lo1_12_employment_area"
        AND (
          "t15"."c_end" + 0
        ) = "t17"."lo1_12_month"
      LEFT OUTER JOIN (
        SELECT
          "t25"."age_band" AS "hi1_12_age_band",
          "t25"."sex" AS "hi1_12_sex",
          "t25"."education" AS "hi1_12_education",
          "t25"."employment_area" AS "hi1_12_employment_area",
          "t25"."month" AS "hi1_12_month",
          "t25"."cum_base" AS "hi1_12_cum"
        FROM "impact_segment_baseline" AS "t25"
      ) AS "t16"
        ON "t15"."c_age_band" = "t16"."hi1_12_age_band"
        AND "t15"."c_sex" = "t16"."hi1_12_sex"
        AND "t15"."c_education" = "t16"."hi1_12_education"
        AND "t15"."c_employment_area" = "t16"."hi1_12_employment_area"
        AND (
          "t15"."c_end" + 12
        ) = "t16"."hi1_12_month"
      LEFT OUTER JOIN (
        SELECT
          "t25"."age_band" AS "lo13_24_age_band",
          "t25"."sex" AS "lo13_24_sex",
          "t25"."education" AS "lo13_24_education",
          "t25"."employment_area" AS "lo13_24_employment_area",
          "t25"."month" AS "lo13_24_month",
          "t25"."cum_base" AS "lo13_24_cum"
        FROM "impact_segment_baseline" AS "t25"
      ) AS "t19"
        ON "t15"."c_age_band" = "t19"."lo13_24_age_band"
        AND "t15"."c_sex" = "t19"."lo13_24_sex"
        AND "t15"."c_education" = "t19"."lo13_24_education"
        AND "t15"."c_employment_area" = "t19"."lo13_24_employment_area"
        AND (
          "t15"."c_end" + 12
        ) = "t19"."lo13_24_month"
      LEFT OUTER JOIN (
        SELECT
          "t25"."age_band" AS "hi13_24_age_band",
          "t25"."sex" AS "hi13_24_sex",
          "t25"."education" AS "hi13_24_education",
          "t25"."employment_area" AS "hi13_24_employment_area",
          "t25"."month" AS "hi13_24_month",
          "t25"."cum_base" AS "hi13_24_cum"
        FROM "impact_segment_baseline" AS "t25"
      ) AS "t18"
        ON "t15"."c_age_band" = "t18"."hi13_24_age_band"
        AND "t15"."c_sex" = "t18"."hi13_24_sex"
        AND "t15"."c_education" = "t18"."hi13_24_education"
        AND "t15"."c_employment_area" = "t18"."hi13_24_employment_area"
        AND (
          "t15"."c_end" + 24
        ) = "t18"."hi13_24_month"
    ) AS "t7"
      ON "t3"."unit_id" = "t7"."b_unit"
  ) AS "t2"
) AS "t26"
ORDER BY
  "t26"."spell_id" ASC;

-- report_exclusions
CREATE OR REPLACE TABLE "impact_report_exclusions" AS
SELECT
  CASE
    WHEN "t0"."month" = -1
    THEN 'superseded_version'
    WHEN "t0"."month" = -2
    THEN 'cancelled_report'
    WHEN "t0"."month" = -3
    THEN 'income_type_not_counted'
    WHEN "t0"."month" = -4
    THEN 'paid_after_extraction'
    WHEN "t0"."month" = -5
    THEN 'period_end_before_start'
    WHEN "t0"."month" = -6
    THEN 'outside_month_range'
    WHEN "t0"."month" = -7
    THEN 'person_without_spells'
    ELSE CAST(NULL AS VARCHAR)
  END AS "rule",
  CAST(ROUND("t0"."earnings_eur", 0) AS BIGINT) AS "rows"
FROM "impact_person_month_with_counts" AS "t0"
WHERE
  "t0"."month" < 0;

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
