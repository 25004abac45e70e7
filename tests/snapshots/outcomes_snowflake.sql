-- impact outcomes: extraction date 2023-06-30, config {'allocation': 'earning_period', 'income_types': (101, 201, 202, 203, 204, 205, 206, 207, 211, 212, 213, 216, 218, 219, 220, 221, 223, 224, 225, 227, 230, 232, 234, 235, 236, 237, 238, 239), 'holiday_compensation': 'spread', 'employment_floor_eur': 500.0, 'employment_rule': 'floor', 'horizons': (1, 3, 6, 12), 'k_of_h': ((3, 6), (6, 12)), 'earnings_windows': ((1, 12), (13, 24)), 'return_windows': (3, 6, 12), 'segment_by': ('age_band', 'sex', 'education', 'employment_area'), 'age_bands': (0, 25, 30, 40, 50, 60), 'extraction_date': '2023-06-30', 'data_start': '2018-01-01', 'disclosure_min': 10, 'group_tables': ('service_type', 'provider_id', 'course_id', 'employment_area', 'municipality')}
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
            ) AND "t6"."subsidised" AS "subsidised",
            (
              "t6"."rule_code" IS NULL
            ) AND "t6"."_wage" AS "wage",
            CASE WHEN "t6"."rule_code" IS NULL THEN "t6"."_d0" ELSE 0 END AS "d0",
            CASE WHEN "t6"."rule_code" IS NULL THEN "t6"."_d1" ELSE 0 END AS "d1",
            CASE WHEN "t6"."rule_code" IS NULL THEN "t6"."_m0" ELSE -1 - "t6"."rule_code" END AS "m0",
            CAST(CASE WHEN "t6"."rule_code" IS NULL THEN "t6"."_m1" - "t6"."_m0" ELSE 0 END AS INT) AS "span"
          FROM (
            SELECT
              "t7"."payer_id",
              "t7"."report_ref",
              "t7"."version",
              "t7"."action",
              "t7"."income_type",
              "t7"."payment_date",
              "t7"."person_id",
              "t7"."amount_eur",
              "t7"."subsidised",
              "t7"."_wage",
              "t7"."_d0",
              "t7"."_d1",
              "t7"."_m0",
              "t7"."_m1",
              "t7"."_lp",
              "t7"."_lr",
              "t7"."_lv",
              "t7"."_sp_person",
              CASE
                WHEN "t7"."version" < "t7"."_lv"
                THEN 0
                WHEN "t7"."action" = 'cancel'
                THEN 1
                WHEN NOT (
                  "t7"."income_type" IN (
                    101,
                    201,
                    202,
                    203,
                    204,
                    205,
                    206,
                    207,
                    211,
                    212,
                    213,
                    216,
                    218,
                    219,
                    220,
                    221,
                    223,
                    224,
                    225,
                    227,
                    230,
                    232,
                    234,
                    235,
                    236,
                    237,
                    238,
                    239
                  )
                )
                THEN 2
                WHEN "t7"."payment_date" > DATE_FROM_PARTS(2023, 6, 30)
                THEN 3
                WHEN "t7"."_d1" < "t7"."_d0"
                THEN 4
                WHEN (
                  "t7"."_d0" < 17501
                ) OR (
                  "t7"."_d1" >= 19570
                )
                THEN 5
                WHEN NOT (
                  "t7"."_sp_person" IS NOT NULL
                )
                THEN 6
                ELSE CAST(NULL AS INT)
              END AS "rule_code"
            FROM (
              SELECT
                "t8"."payer_id",
                "t8"."report_ref",
                "t8"."version",
                "t8"."action",
                "t8"."income_type",
                "t8"."payment_date",
                "t8"."person_id",
                "t8"."amount_eur",
                "t8"."subsidised",
                "t8"."_wage",
                "t8"."_d0",
                "t8"."_d1",
                "t8"."_m0",
                "t8"."_m1",
                "t9"."_lp",
                "t9"."_lr",
                "t9"."_lv",
                "t10"."_sp_person"
              FROM (
                SELECT
                  "t11"."payer_id",
                  "t11"."report_ref",
                  "t11"."version",
                  "t11"."action",
                  "t11"."income_type",
                  "t11"."payment_date",
                  "t11"."person_id",
                  "t11"."amount_eur",
                  COALESCE("t11"."subsidised", FALSE) AS "subsidised",
                  NOT (
                    COALESCE("t11"."recovery", FALSE)
                  ) AND (
                    "t11"."amount_eur" > 0
                  ) AS "_wage",
                  CAST(DATEDIFF(
                    DAY,
                    DATE_FROM_PARTS(1970, 1, 1),
                    CASE
                      WHEN (
                        "t11"."earning_period_start" IS NOT NULL
                      )
                      AND (
                        "t11"."earning_period_end" IS NOT NULL
                      )
                      THEN "t11"."earning_period_start"
                      ELSE "t11"."pay_period_start"
                    END
                  ) AS INT) AS "_d0",
                  CAST(DATEDIFF(
                    DAY,
                    DATE_FROM_PARTS(1970, 1, 1),
                    CASE
                      WHEN (
                        "t11"."earning_period_start" IS NOT NULL
                      )
                      AND (
                        "t11"."earning_period_end" IS NOT NULL
                      )
                      THEN "t11"."earning_period_end"
                      ELSE "t11"."pay_period_end"
                    END
                  ) AS INT) AS "_d1",
                  (
                    (
                      DATE_PART(
                        year,
                        CASE
                          WHEN (
                            "t11"."earning_period_start" IS NOT NULL
                          )
                          AND (
                            "t11"."earning_period_end" IS NOT NULL
                          )
                          THEN "t11"."earning_period_start"
                          ELSE "t11"."pay_period_start"
                        END
                      ) * 12
                    ) + DATE_PART(
                      month,
                      CASE
                        WHEN (
                          "t11"."earning_period_start" IS NOT NULL
                        )
                        AND (
                          "t11"."earning_period_end" IS NOT NULL
                        )
                        THEN "t11"."earning_period_start"
                        ELSE "t11"."pay_period_start"
                      END
                    )
                  ) - 1 AS "_m0",
                  (
                    (
                      DATE_PART(
                        year,
                        CASE
                          WHEN (
                            "t11"."earning_period_start" IS NOT NULL
                          )
                          AND (
                            "t11"."earning_period_end" IS NOT NULL
                          )
                          THEN "t11"."earning_period_end"
                          ELSE "t11"."pay_period_end"
                        END
                      ) * 12
                    ) + DATE_PART(
                      month,
                      CASE
                        WHEN (
                          "t11"."earning_period_start" IS NOT NULL
                        )
                        AND (
                          "t11"."earning_period_end" IS NOT NULL
                        )
                        THEN "t11"."earning_period_end"
                        ELSE "t11"."pay_period_end"
                      END
                    )
                  ) - 1 AS "_m1"
                FROM "earnings_reports" AS "t11"
              ) AS "t8"
              LEFT OUTER JOIN (
                SELECT
                  "t12"."payer_id" AS "_lp",
                  "t12"."report_ref" AS "_lr",
                  MAX("t12"."version") AS "_lv"
                FROM (
                  SELECT
                    *
                  FROM "earnings_reports" AS "t11"
                  WHERE
                    "t11"."version" > 1
                ) AS "t12"
                GROUP BY
                  1,
                  2
              ) AS "t9"
                ON "t8"."payer_id" = "t9"."_lp" AND "t8"."report_ref" = "t9"."_lr"
              LEFT OUTER JOIN (
                SELECT DISTINCT
                  "t13"."person_id" AS "_sp_person"
                FROM (
                  SELECT DISTINCT
                    *
                  FROM (
                    SELECT
                      *
                    FROM (
                      SELECT
                        "t14"."person_id"
                      FROM "service_spells" AS "t14"
                    ) AS "t15"
                    UNION ALL
                    SELECT
                      *
                    FROM (
                      SELECT
                        "t16"."person_id"
                      FROM "jobseeking_spells" AS "t16"
                    ) AS "t17"
                  ) AS "t18"
                ) AS "t13"
              ) AS "t10"
                ON "t8"."person_id" = "t10"."_sp_person"
            ) AS "t7"
          ) AS "t6"
        ) AS "t4"
        INNER JOIN (
          SELECT
            *
          FROM (
            SELECT
              "t19"."span",
              "t20"."k"
            FROM (
              SELECT
                "t21"."v" AS "span"
              FROM "impact_const_58e6fc4b07" AS "t21"
            ) AS "t19"
            CROSS JOIN (
              SELECT
                "t21"."v" AS "k"
              FROM "impact_const_58e6fc4b07" AS "t21"
            ) AS "t20"
          ) AS "t22"
          WHERE
            "t22"."k" <= "t22"."span"
        ) AS "t5"
          ON "t4"."span" = "t5"."span"
      ) AS "t23"
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

-- service_units
CREATE OR REPLACE TABLE "impact_service_units" AS
SELECT
  "t0"."service_id",
  "t0"."person_id",
  "t0"."service_type",
  "t0"."start_date",
  "t0"."end_date",
  "t0"."end_reason",
  "t0"."provider_id",
  "t0"."course_id",
  "t0"."cost_eur",
  "t0"."service_id" AS "unit_id"
FROM "service_spells" AS "t0"
WHERE
  CASE
    WHEN "t0"."start_date" > DATE_FROM_PARTS(2023, 6, 30)
    THEN 'service_starts_after_extraction'
    WHEN "t0"."end_date" IS NULL
    THEN 'service_ongoing'
    WHEN "t0"."end_date" > DATE_FROM_PARTS(2023, 6, 30)
    THEN 'service_ends_after_extraction'
    ELSE CAST(NULL AS VARCHAR)
  END IS NULL;

-- spell_units
CREATE OR REPLACE TABLE "impact_spell_units" AS
SELECT
  "t0"."spell_id",
  "t0"."person_id",
  "t0"."start_date",
  "t0"."end_date",
  "t0"."status_at_start",
  "t0"."end_reason",
  "t0"."segment",
  "t0"."municipality",
  "t0"."spell_id" AS "unit_id"
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
) AS "t0"
WHERE
  "t0"."drop_rule" IS NULL;

-- segment_baseline
CREATE OR REPLACE TABLE "impact_segment_baseline" AS
WITH "t0" AS (
  SELECT
    "t1"."year",
    "t1"."cell",
    CASE
      WHEN (
        "t1"."year" - "t1"."c_birth"
      ) >= 60
      THEN 60
      WHEN (
        "t1"."year" - "t1"."c_birth"
      ) >= 50
      THEN 50
      WHEN (
        "t1"."year" - "t1"."c_birth"
      ) >= 40
      THEN 40
      WHEN (
        "t1"."year" - "t1"."c_birth"
      ) >= 30
      THEN 30
      WHEN (
        "t1"."year" - "t1"."c_birth"
      ) >= 25
      THEN 25
      ELSE 0
    END AS "age_band",
    COUNT(*) AS "n_persons"
  FROM (
    SELECT
      "t2"."person_id" AS "c_person",
      CAST("t3"."cell" AS INT) AS "cell",
      CAST("t2"."birth_year" AS INT) AS "c_birth",
      "t4"."year"
    FROM "persons" AS "t2"
    INNER JOIN (
      SELECT
        "t5"."k_sex",
        "t5"."k_education",
        "t5"."k_employment_area",
        ROW_NUMBER() OVER (ORDER BY "t5"."k_sex" ASC, "t5"."k_education" ASC, "t5"."k_employment_area" ASC) - 1 AS "cell"
      FROM (
        SELECT DISTINCT
          "t6"."sex" AS "k_sex",
          "t6"."education" AS "k_education",
          "t6"."employment_area" AS "k_employment_area"
        FROM "persons" AS "t6"
      ) AS "t5"
    ) AS "t3"
      ON "t2"."sex" IS NOT DISTINCT FROM "t3"."k_sex"
      AND "t2"."education" IS NOT DISTINCT FROM "t3"."k_education"
      AND "t2"."employment_area" IS NOT DISTINCT FROM "t3"."k_employment_area"
    CROSS JOIN "impact_const_e889c24e91" AS "t4"
  ) AS "t1"
  GROUP BY
    1,
    2,
    3
)
SELECT
  "t7"."age_band",
  "t3"."k_sex" AS "sex",
  "t3"."k_education" AS "education",
  "t3"."k_employment_area" AS "employment_area",
  "t7"."month",
  "t7"."cum_base",
  "t7"."cum_n"
FROM (
  SELECT
    "t8"."cell",
    "t8"."age_band",
    "t8"."month",
    SUM(COALESCE("t8"."base", 0.0)) OVER (
      PARTITION BY "t8"."cell", "t8"."age_band"
      ORDER BY "t8"."month" ASC
      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) AS "cum_base",
    SUM("t8"."defined") OVER (
      PARTITION BY "t8"."cell", "t8"."age_band"
      ORDER BY "t8"."month" ASC
      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) AS "cum_n"
  FROM (
    SELECT
      "t9"."cell",
      "t9"."age_band",
      "t10"."month",
      COALESCE("t11"."earn", 0.0) / CAST("t12"."n_persons" AS DOUBLE) AS "base",
      CAST("t12"."n_persons" IS NOT NULL AS INT) AS "defined"
    FROM (
      SELECT DISTINCT
        "t13"."cell",
        "t13"."age_band"
      FROM "t0" AS "t13"
    ) AS "t9"
    CROSS JOIN "impact_const_7298c604f7" AS "t10"
    LEFT OUTER JOIN (
      SELECT
        "t13"."year" AS "n_year",
        "t13"."cell" AS "n_cell",
        "t13"."age_band" AS "n_age_band",
        "t13"."n_persons"
      FROM "t0" AS "t13"
    ) AS "t12"
      ON "t9"."cell" = "t12"."n_cell"
      AND "t9"."age_band" = "t12"."n_age_band"
      AND CAST(CAST(FLOOR((
        "t10"."month"
      ) / (
        12
      )) AS BIGINT) AS INT) = "t12"."n_year"
    LEFT OUTER JOIN (
      SELECT
        "t14"."month" AS "s_month",
        "t14"."cell" AS "s_cell",
        "t14"."age_band" AS "s_age_band",
        "t14"."earn"
      FROM (
        SELECT
          "t15"."month",
          "t15"."cell",
          CASE
            WHEN (
              CAST(CAST(FLOOR((
                "t15"."month"
              ) / (
                12
              )) AS BIGINT) AS INT) - "t15"."c_birth"
            ) >= 60
            THEN 60
            WHEN (
              CAST(CAST(FLOOR((
                "t15"."month"
              ) / (
                12
              )) AS BIGINT) AS INT) - "t15"."c_birth"
            ) >= 50
            THEN 50
            WHEN (
              CAST(CAST(FLOOR((
                "t15"."month"
              ) / (
                12
              )) AS BIGINT) AS INT) - "t15"."c_birth"
            ) >= 40
            THEN 40
            WHEN (
              CAST(CAST(FLOOR((
                "t15"."month"
              ) / (
                12
              )) AS BIGINT) AS INT) - "t15"."c_birth"
            ) >= 30
            THEN 30
            WHEN (
              CAST(CAST(FLOOR((
                "t15"."month"
              ) / (
                12
              )) AS BIGINT) AS INT) - "t15"."c_birth"
            ) >= 25
            THEN 25
            ELSE 0
          END AS "age_band",
          SUM("t15"."earnings_eur") AS "earn"
        FROM (
          SELECT
            "t16"."person_id",
            "t16"."month",
            "t16"."earnings_eur",
            "t16"."subsidised_eur",
            "t16"."employed",
            "t16"."subsidised",
            "t16"."first_work_day",
            "t17"."c_person",
            "t17"."cell",
            "t17"."c_birth"
          FROM (
            SELECT
              *
            FROM "impact_person_month" AS "t18"
            WHERE
              "t18"."month" >= 24215 AND "t18"."month" <= 24281
          ) AS "t16"
          INNER JOIN (
            SELECT
              "t2"."person_id" AS "c_person",
              CAST("t3"."cell" AS INT) AS "cell",
              CAST("t2"."birth_year" AS INT) AS "c_birth"
            FROM "persons" AS "t2"
            INNER JOIN (
              SELECT
                "t5"."k_sex",
                "t5"."k_education",
                "t5"."k_employment_area",
                ROW_NUMBER() OVER (ORDER BY "t5"."k_sex" ASC, "t5"."k_education" ASC, "t5"."k_employment_area" ASC) - 1 AS "cell"
              FROM (
                SELECT DISTINCT
                  "t6"."sex" AS "k_sex",
                  "t6"."education" AS "k_education",
                  "t6"."employment_area" AS "k_employment_area"
                FROM "persons" AS "t6"
              ) AS "t5"
            ) AS "t3"
              ON "t2"."sex" IS NOT DISTINCT FROM "t3"."k_sex"
              AND "t2"."education" IS NOT DISTINCT FROM "t3"."k_education"
              AND "t2"."employment_area" IS NOT DISTINCT FROM "t3"."k_employment_area"
          ) AS "t17"
            ON "t16"."person_id" = "t17"."c_person"
        ) AS "t15"
        GROUP BY
          1,
          2,
          3
      ) AS "t14"
    ) AS "t11"
      ON "t9"."cell" = "t11"."s_cell"
      AND "t9"."age_band" = "t11"."s_age_band"
      AND "t10"."month" = "t11"."s_month"
  ) AS "t8"
) AS "t7"
INNER JOIN (
  SELECT
    "t5"."k_sex",
    "t5"."k_education",
    "t5"."k_employment_area",
    ROW_NUMBER() OVER (ORDER BY "t5"."k_sex" ASC, "t5"."k_education" ASC, "t5"."k_employment_area" ASC) - 1 AS "cell"
  FROM (
    SELECT DISTINCT
      "t6"."sex" AS "k_sex",
      "t6"."education" AS "k_education",
      "t6"."employment_area" AS "k_employment_area"
    FROM "persons" AS "t6"
  ) AS "t5"
) AS "t3"
  ON "t7"."cell" = "t3"."cell";

-- baseline_edges
CREATE OR REPLACE TABLE "impact_baseline_edges" AS
SELECT
  "t0"."age_band" AS "bw_age_band",
  "t0"."sex" AS "bw_sex",
  "t0"."education" AS "bw_education",
  "t0"."employment_area" AS "bw_employment_area",
  "t0"."month" AS "bw_month",
  "t0"."cum_base" AS "cum0",
  LEAD("t0"."cum_base", 12) OVER (
    PARTITION BY "t0"."age_band", "t0"."sex", "t0"."education", "t0"."employment_area"
    ORDER BY "t0"."month" ASC
  ) AS "cum12",
  LEAD("t0"."cum_base", 24) OVER (
    PARTITION BY "t0"."age_band", "t0"."sex", "t0"."education", "t0"."employment_area"
    ORDER BY "t0"."month" ASC
  ) AS "cum24",
  "t0"."cum_n" AS "n0",
  LEAD("t0"."cum_n", 12) OVER (
    PARTITION BY "t0"."age_band", "t0"."sex", "t0"."education", "t0"."employment_area"
    ORDER BY "t0"."month" ASC
  ) AS "n12",
  LEAD("t0"."cum_n", 24) OVER (
    PARTITION BY "t0"."age_band", "t0"."sex", "t0"."education", "t0"."employment_area"
    ORDER BY "t0"."month" ASC
  ) AS "n24"
FROM "impact_segment_baseline" AS "t0";

-- service_window
CREATE OR REPLACE TABLE "impact_service_window" AS
SELECT
  "t0"."w_unit",
  BOOLOR_AGG((
    (
      "t0"."month" - "t0"."e"
    ) = 1
  ) AND "t0"."employed") AS "w_emp1",
  BOOLOR_AGG((
    (
      "t0"."month" - "t0"."e"
    ) = 3
  ) AND "t0"."employed") AS "w_emp3",
  BOOLOR_AGG((
    (
      "t0"."month" - "t0"."e"
    ) = 6
  ) AND "t0"."employed") AS "w_emp6",
  BOOLOR_AGG((
    (
      "t0"."month" - "t0"."e"
    ) = 12
  ) AND "t0"."employed") AS "w_emp12",
  SUM(
    CAST((
      (
        "t0"."month" - "t0"."e"
      ) >= 1
    )
    AND (
      (
        "t0"."month" - "t0"."e"
      ) <= 6
    )
    AND "t0"."employed" AS INT)
  ) AS "w_nemp6",
  SUM(
    CAST((
      (
        "t0"."month" - "t0"."e"
      ) >= 1
    )
    AND (
      (
        "t0"."month" - "t0"."e"
      ) <= 12
    )
    AND "t0"."employed" AS INT)
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
      CAST("t3"."end_month" AS INT) AS "e",
      CAST("t3"."start_month" AS INT) AS "s",
      CAST("t3"."end_month" AS INT) AS "lo",
      CAST("t3"."end_month" AS INT) + 24 AS "hi"
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
        "t4"."unit_id",
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
      FROM "impact_service_units" AS "t4"
    ) AS "t3"
    WHERE
      CAST("t3"."end_month" AS INT) IS NOT NULL
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
  BOOLOR_AGG((
    (
      "t0"."month" - "t0"."e"
    ) = 1
  ) AND "t0"."employed") AS "w_emp1",
  BOOLOR_AGG((
    (
      "t0"."month" - "t0"."e"
    ) = 3
  ) AND "t0"."employed") AS "w_emp3",
  BOOLOR_AGG((
    (
      "t0"."month" - "t0"."e"
    ) = 6
  ) AND "t0"."employed") AS "w_emp6",
  BOOLOR_AGG((
    (
      "t0"."month" - "t0"."e"
    ) = 12
  ) AND "t0"."employed") AS "w_emp12",
  SUM(
    CAST((
      (
        "t0"."month" - "t0"."e"
      ) >= 1
    )
    AND (
      (
        "t0"."month" - "t0"."e"
      ) <= 6
    )
    AND "t0"."employed" AS INT)
  ) AS "w_nemp6",
  SUM(
    CAST((
      (
        "t0"."month" - "t0"."e"
      ) >= 1
    )
    AND (
      (
        "t0"."month" - "t0"."e"
      ) <= 12
    )
    AND "t0"."employed" AS INT)
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
      CAST("t3"."end_month" AS INT) AS "e",
      CAST("t3"."start_month" AS INT) AS "s",
      CAST("t3"."start_month" AS INT) AS "lo",
      COALESCE(CAST("t3"."end_month" AS INT), 24281) + 24 AS "hi"
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
        "t4"."unit_id",
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
      FROM "impact_spell_units" AS "t4"
    ) AS "t3"
    WHERE
      CAST("t3"."start_month" AS INT) IS NOT NULL
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
    "t1"."f_lo",
    "t2"."x_person",
    "t2"."x_month",
    "t2"."x_day"
  FROM (
    SELECT
      "t3"."f_unit",
      "t3"."f_person",
      CAST("t3"."f_e" + 24 AS INT) AS "f_lo"
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
            "t6"."unit_id" AS "f_unit",
            "t6"."person_id" AS "f_person",
            (
              (
                DATE_PART(year, "t6"."end_date") * 12
              ) + DATE_PART(month, "t6"."end_date")
            ) - 1 AS "f_e"
          FROM "impact_service_units" AS "t6"
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
    ON "t1"."f_person" = "t2"."x_person" AND "t2"."x_month" > "t1"."f_lo"
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
    "t1"."f_lo",
    "t2"."x_person",
    "t2"."x_month",
    "t2"."x_day"
  FROM (
    SELECT
      "t3"."f_unit",
      "t3"."f_person",
      CAST("t3"."f_e" + 24 AS INT) AS "f_lo"
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
            "t6"."unit_id" AS "f_unit",
            "t6"."person_id" AS "f_person",
            (
              (
                DATE_PART(year, "t6"."end_date") * 12
              ) + DATE_PART(month, "t6"."end_date")
            ) - 1 AS "f_e"
          FROM "impact_spell_units" AS "t6"
        ) AS "t7"
        WHERE
          "t7"."f_e" IS NOT NULL
      ) AS "t4"
      LEFT OUTER JOIN "impact_spell_window" AS "t5"
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
    ON "t1"."f_person" = "t2"."x_person" AND "t2"."x_month" > "t1"."f_lo"
) AS "t0"
GROUP BY
  1;

-- service_outcomes
CREATE OR REPLACE TABLE "impact_service_outcomes" AS
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
      THEN COALESCE("t2"."w_emp1", FALSE)
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
      THEN COALESCE("t2"."w_emp3", FALSE)
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
      THEN COALESCE("t2"."w_emp6", FALSE)
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
      THEN COALESCE("t2"."w_emp12", FALSE)
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
      WHEN (
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
        END IS NOT NULL
      )
      AND (
        (
          "t5"."n12" - "t5"."n0"
        ) = 12
      )
      THEN (
        "t5"."cum12" - "t5"."cum0"
      ) / 12
      ELSE CAST(NULL AS DOUBLE)
    END AS "baseline_1_12m",
    CASE
      WHEN CASE
        WHEN (
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
          END IS NOT NULL
        )
        AND (
          (
            "t5"."n12" - "t5"."n0"
          ) = 12
        )
        THEN (
          "t5"."cum12" - "t5"."cum0"
        ) / 12
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
        WHEN (
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
          END IS NOT NULL
        )
        AND (
          (
            "t5"."n12" - "t5"."n0"
          ) = 12
        )
        THEN (
          "t5"."cum12" - "t5"."cum0"
        ) / 12
        ELSE CAST(NULL AS DOUBLE)
      END
      ELSE CAST(NULL AS DOUBLE)
    END AS "rel_earnings_1_12m",
    CASE
      WHEN (
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
        END IS NOT NULL
      )
      AND (
        (
          "t5"."n24" - "t5"."n12"
        ) = 12
      )
      THEN (
        "t5"."cum24" - "t5"."cum12"
      ) / 12
      ELSE CAST(NULL AS DOUBLE)
    END AS "baseline_13_24m",
    CASE
      WHEN CASE
        WHEN (
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
          END IS NOT NULL
        )
        AND (
          (
            "t5"."n24" - "t5"."n12"
          ) = 12
        )
        THEN (
          "t5"."cum24" - "t5"."cum12"
        ) / 12
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
        WHEN (
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
          END IS NOT NULL
        )
        AND (
          (
            "t5"."n24" - "t5"."n12"
          ) = 12
        )
        THEN (
          "t5"."cum24" - "t5"."cum12"
        ) / 12
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
      "t6"."unit_id",
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
    FROM "impact_service_units" AS "t6"
  ) AS "t1"
  LEFT OUTER JOIN (
    SELECT
      "t7"."person_id" AS "c_person",
      "t7"."birth_year" AS "c_birth",
      "t7"."sex" AS "c_sex",
      "t7"."education" AS "c_education",
      "t7"."employment_area" AS "c_employment_area"
    FROM "persons" AS "t7"
  ) AS "t8"
    ON "t1"."person_id" = "t8"."c_person"
  LEFT OUTER JOIN "impact_baseline_edges" AS "t5"
    ON CASE
      WHEN (
        DATE_PART(year, "t1"."end_date") - CAST("t8"."c_birth" AS INT)
      ) >= 60
      THEN 60
      WHEN (
        DATE_PART(year, "t1"."end_date") - CAST("t8"."c_birth" AS INT)
      ) >= 50
      THEN 50
      WHEN (
        DATE_PART(year, "t1"."end_date") - CAST("t8"."c_birth" AS INT)
      ) >= 40
      THEN 40
      WHEN (
        DATE_PART(year, "t1"."end_date") - CAST("t8"."c_birth" AS INT)
      ) >= 30
      THEN 30
      WHEN (
        DATE_PART(year, "t1"."end_date") - CAST("t8"."c_birth" AS INT)
      ) >= 25
      THEN 25
      ELSE 0
    END = "t5"."bw_age_band"
    AND "t8"."c_sex" = "t5"."bw_sex"
    AND "t8"."c_education" = "t5"."bw_education"
    AND "t8"."c_employment_area" = "t5"."bw_employment_area"
    AND "t1"."end_month" = "t5"."bw_month"
  LEFT OUTER JOIN "impact_service_window" AS "t2"
    ON "t1"."unit_id" = "t2"."w_unit"
  LEFT OUTER JOIN "impact_service_late" AS "t3"
    ON "t1"."unit_id" = "t3"."l_unit"
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
            COALESCE("t13"."w_fe_month", "t14"."l_month") AS "fe_month"
          FROM (
            SELECT
              *
            FROM (
              SELECT
                "t6"."unit_id" AS "f_unit",
                "t6"."person_id" AS "f_person",
                (
                  (
                    DATE_PART(year, "t6"."end_date") * 12
                  ) + DATE_PART(month, "t6"."end_date")
                ) - 1 AS "f_e"
              FROM "impact_service_units" AS "t6"
            ) AS "t15"
            WHERE
              "t15"."f_e" IS NOT NULL
          ) AS "t12"
          LEFT OUTER JOIN "impact_service_window" AS "t13"
            ON "t12"."f_unit" = "t13"."w_unit"
          LEFT OUTER JOIN "impact_service_late" AS "t14"
            ON "t12"."f_unit" = "t14"."l_unit"
        ) AS "t16"
        WHERE
          "t16"."fe_month" IS NOT NULL
      ) AS "t10"
      INNER JOIN (
        SELECT
          "t17"."person_id" AS "s_person",
          (
            (
              DATE_PART(year, "t17"."start_date") * 12
            ) + DATE_PART(month, "t17"."start_date")
          ) - 1 AS "s_month"
        FROM "impact_spell_units" AS "t17"
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
  ) AS "t4"
    ON "t1"."unit_id" = "t4"."rt_unit"
) AS "t0";

-- spell_outcomes
CREATE OR REPLACE TABLE "impact_spell_outcomes" AS
SELECT
  "t0".*
  EXCLUDE ("unit_id")
FROM (
  SELECT
    "t1"."spell_id",
    "t1"."person_id",
    "t1"."start_date",
    "t1"."end_date",
    "t1"."status_at_start",
    "t1"."end_reason",
    "t1"."segment",
    "t1"."municipality",
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
      THEN COALESCE("t2"."w_emp1", FALSE)
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
      THEN COALESCE("t2"."w_emp3", FALSE)
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
      THEN COALESCE("t2"."w_emp6", FALSE)
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
      THEN COALESCE("t2"."w_emp12", FALSE)
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
        WHEN "t2"."w_fs_month" IS NOT NULL
        THEN "t2"."w_fs_month"
        ELSE "t3"."l_month"
      END IS NOT NULL
      THEN CASE
        WHEN "t2"."w_fs_month" IS NOT NULL
        THEN "t2"."w_fs_month"
        ELSE "t3"."l_month"
      END - "t1"."start_month"
      WHEN "t1"."start_month" IS NOT NULL
      THEN 24281 - "t1"."start_month"
      ELSE CAST(NULL AS INT)
    END AS INT) AS "months_to_employment_from_start",
    CASE
      WHEN "t1"."start_month" IS NOT NULL
      THEN NOT (
        CASE
          WHEN "t2"."w_fs_month" IS NOT NULL
          THEN "t2"."w_fs_month"
          ELSE "t3"."l_month"
        END IS NOT NULL
      )
      ELSE CAST(NULL AS BOOLEAN)
    END AS "censored_from_start",
    CAST(CASE
      WHEN CASE
        WHEN "t2"."w_fs_month" IS NOT NULL
        THEN "t2"."w_fs_month"
        ELSE "t3"."l_month"
      END IS NOT NULL
      THEN CASE WHEN "t2"."w_fs_month" IS NOT NULL THEN "t2"."w_fs_day" ELSE "t3"."l_day" END - CAST(DATEDIFF(DAY, DATE_FROM_PARTS(1970, 1, 1), "t1"."start_date") AS INT)
      ELSE CAST(NULL AS INT)
    END AS INT) AS "days_to_employment_from_start",
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
      WHEN (
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
        END IS NOT NULL
      )
      AND (
        (
          "t5"."n12" - "t5"."n0"
        ) = 12
      )
      THEN (
        "t5"."cum12" - "t5"."cum0"
      ) / 12
      ELSE CAST(NULL AS DOUBLE)
    END AS "baseline_1_12m",
    CASE
      WHEN CASE
        WHEN (
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
          END IS NOT NULL
        )
        AND (
          (
            "t5"."n12" - "t5"."n0"
          ) = 12
        )
        THEN (
          "t5"."cum12" - "t5"."cum0"
        ) / 12
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
        WHEN (
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
          END IS NOT NULL
        )
        AND (
          (
            "t5"."n12" - "t5"."n0"
          ) = 12
        )
        THEN (
          "t5"."cum12" - "t5"."cum0"
        ) / 12
        ELSE CAST(NULL AS DOUBLE)
      END
      ELSE CAST(NULL AS DOUBLE)
    END AS "rel_earnings_1_12m",
    CASE
      WHEN (
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
        END IS NOT NULL
      )
      AND (
        (
          "t5"."n24" - "t5"."n12"
        ) = 12
      )
      THEN (
        "t5"."cum24" - "t5"."cum12"
      ) / 12
      ELSE CAST(NULL AS DOUBLE)
    END AS "baseline_13_24m",
    CASE
      WHEN CASE
        WHEN (
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
          END IS NOT NULL
        )
        AND (
          (
            "t5"."n24" - "t5"."n12"
          ) = 12
        )
        THEN (
          "t5"."cum24" - "t5"."cum12"
        ) / 12
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
        WHEN (
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
          END IS NOT NULL
        )
        AND (
          (
            "t5"."n24" - "t5"."n12"
          ) = 12
        )
        THEN (
          "t5"."cum24" - "t5"."cum12"
        ) / 12
        ELSE CAST(NULL AS DOUBLE)
      END
      ELSE CAST(NULL AS DOUBLE)
    END AS "rel_earnings_13_24m"
  FROM (
    SELECT
      "t6"."spell_id",
      "t6"."person_id",
      "t6"."start_date",
      "t6"."end_date",
      "t6"."status_at_start",
      "t6"."end_reason",
      "t6"."segment",
      "t6"."municipality",
      "t6"."unit_id",
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
    FROM "impact_spell_units" AS "t6"
  ) AS "t1"
  LEFT OUTER JOIN (
    SELECT
      "t7"."person_id" AS "c_person",
      "t7"."birth_year" AS "c_birth",
      "t7"."sex" AS "c_sex",
      "t7"."education" AS "c_education",
      "t7"."employment_area" AS "c_employment_area"
    FROM "persons" AS "t7"
  ) AS "t8"
    ON "t1"."person_id" = "t8"."c_person"
  LEFT OUTER JOIN "impact_baseline_edges" AS "t5"
    ON CASE
      WHEN (
        DATE_PART(year, "t1"."end_date") - CAST("t8"."c_birth" AS INT)
      ) >= 60
      THEN 60
      WHEN (
        DATE_PART(year, "t1"."end_date") - CAST("t8"."c_birth" AS INT)
      ) >= 50
      THEN 50
      WHEN (
        DATE_PART(year, "t1"."end_date") - CAST("t8"."c_birth" AS INT)
      ) >= 40
      THEN 40
      WHEN (
        DATE_PART(year, "t1"."end_date") - CAST("t8"."c_birth" AS INT)
      ) >= 30
      THEN 30
      WHEN (
        DATE_PART(year, "t1"."end_date") - CAST("t8"."c_birth" AS INT)
      ) >= 25
      THEN 25
      ELSE 0
    END = "t5"."bw_age_band"
    AND "t8"."c_sex" = "t5"."bw_sex"
    AND "t8"."c_education" = "t5"."bw_education"
    AND "t8"."c_employment_area" = "t5"."bw_employment_area"
    AND "t1"."end_month" = "t5"."bw_month"
  LEFT OUTER JOIN "impact_spell_window" AS "t2"
    ON "t1"."unit_id" = "t2"."w_unit"
  LEFT OUTER JOIN "impact_spell_late" AS "t3"
    ON "t1"."unit_id" = "t3"."l_unit"
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
            COALESCE("t13"."w_fe_month", "t14"."l_month") AS "fe_month"
          FROM (
            SELECT
              *
            FROM (
              SELECT
                "t6"."unit_id" AS "f_unit",
                "t6"."person_id" AS "f_person",
                (
                  (
                    DATE_PART(year, "t6"."end_date") * 12
                  ) + DATE_PART(month, "t6"."end_date")
                ) - 1 AS "f_e"
              FROM "impact_spell_units" AS "t6"
            ) AS "t15"
            WHERE
              "t15"."f_e" IS NOT NULL
          ) AS "t12"
          LEFT OUTER JOIN "impact_spell_window" AS "t13"
            ON "t12"."f_unit" = "t13"."w_unit"
          LEFT OUTER JOIN "impact_spell_late" AS "t14"
            ON "t12"."f_unit" = "t14"."l_unit"
        ) AS "t16"
        WHERE
          "t16"."fe_month" IS NOT NULL
      ) AS "t10"
      INNER JOIN (
        SELECT
          "t6"."person_id" AS "s_person",
          (
            (
              DATE_PART(year, "t6"."start_date") * 12
            ) + DATE_PART(month, "t6"."start_date")
          ) - 1 AS "s_month"
        FROM "impact_spell_units" AS "t6"
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
  ) AS "t4"
    ON "t1"."unit_id" = "t4"."rt_unit"
) AS "t0";

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
  CAST(ROUND("t0"."n", 0) AS BIGINT) AS "rows"
FROM (
  SELECT
    "t1"."month",
    SUM("t1"."earnings_eur") AS "n"
  FROM (
    SELECT
      *
    FROM "impact_person_month_with_counts" AS "t2"
    WHERE
      "t2"."month" < 0
  ) AS "t1"
  GROUP BY
    1
) AS "t0";

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
