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

-- constant table (702 rows)
CREATE OR REPLACE TEMPORARY TABLE "impact_const_c0c36551ff" AS
SELECT
  CAST("v"."span" AS INT) AS "span",
  CAST("v"."k" AS INT) AS "k"
FROM (VALUES
  (1, 0),
  (1, 1),
  (2, 0),
  (2, 1),
  (2, 2),
  (3, 0),
  (3, 1),
  (3, 2),
  (3, 3),
  (4, 0),
  (4, 1),
  (4, 2),
  (4, 3),
  (4, 4),
  (5, 0),
  (5, 1),
  (5, 2),
  (5, 3),
  (5, 4),
  (5, 5),
  (6, 0),
  (6, 1),
  (6, 2),
  (6, 3),
  (6, 4),
  (6, 5),
  (6, 6),
  (7, 0),
  (7, 1),
  (7, 2),
  (7, 3),
  (7, 4),
  (7, 5),
  (7, 6),
  (7, 7),
  (8, 0),
  (8, 1),
  (8, 2),
  (8, 3),
  (8, 4),
  (8, 5),
  (8, 6),
  (8, 7),
  (8, 8),
  (9, 0),
  (9, 1),
  (9, 2),
  (9, 3),
  (9, 4),
  (9, 5),
  (9, 6),
  (9, 7),
  (9, 8),
  (9, 9),
  (10, 0),
  (10, 1),
  (10, 2),
  (10, 3),
  (10, 4),
  (10, 5),
  (10, 6),
  (10, 7),
  (10, 8),
  (10, 9),
  (10, 10),
  (11, 0),
  (11, 1),
  (11, 2),
  (11, 3),
  (11, 4),
  (11, 5),
  (11, 6),
  (11, 7),
  (11, 8),
  (11, 9),
  (11, 10),
  (11, 11),
  (12, 0),
  (12, 1),
  (12, 2),
  (12, 3),
  (12, 4),
  (12, 5),
  (12, 6),
  (12, 7),
  (12, 8),
  (12, 9),
  (12, 10),
  (12, 11),
  (12, 12),
  (13, 0),
  (13, 1),
  (13, 2),
  (13, 3),
  (13, 4),
  (13, 5),
  (13, 6),
  (13, 7),
  (13, 8),
  (13, 9),
  (13, 10),
  (13, 11),
  (13, 12),
  (13, 13),
  (14, 0),
  (14, 1),
  (14, 2),
  (14, 3),
  (14, 4),
  (14, 5),
  (14, 6),
  (14, 7),
  (14, 8),
  (14, 9),
  (14, 10),
  (14, 11),
  (14, 12),
  (14, 13),
  (14, 14),
  (15, 0),
  (15, 1),
  (15, 2),
  (15, 3),
  (15, 4),
  (15, 5),
  (15, 6),
  (15, 7),
  (15, 8),
  (15, 9),
  (15, 10),
  (15, 11),
  (15, 12),
  (15, 13),
  (15, 14),
  (15, 15),
  (16, 0),
  (16, 1),
  (16, 2),
  (16, 3),
  (16, 4),
  (16, 5),
  (16, 6),
  (16, 7),
  (16, 8),
  (16, 9),
  (16, 10),
  (16, 11),
  (16, 12),
  (16, 13),
  (16, 14),
  (16, 15),
  (16, 16),
  (17, 0),
  (17, 1),
  (17, 2),
  (17, 3),
  (17, 4),
  (17, 5),
  (17, 6),
  (17, 7),
  (17, 8),
  (17, 9),
  (17, 10),
  (17, 11),
  (17, 12),
  (17, 13),
  (17, 14),
  (17, 15),
  (17, 16),
  (17, 17),
  (18, 0),
  (18, 1),
  (18, 2),
  (18, 3),
  (18, 4),
  (18, 5),
  (18, 6),
  (18, 7),
  (18, 8),
  (18, 9),
  (18, 10),
  (18, 11),
  (18, 12),
  (18, 13),
  (18, 14),
  (18, 15),
  (18, 16),
  (18, 17),
  (18, 18),
  (19, 0),
  (19, 1),
  (19, 2),
  (19, 3),
  (19, 4),
  (19, 5),
  (19, 6),
  (19, 7),
  (19, 8),
  (19, 9),
  (19, 10),
  (19, 11),
  (19, 12),
  (19, 13),
  (19, 14),
  (19, 15),
  (19, 16),
  (19, 17),
  (19, 18),
  (19, 19),
  (20, 0),
  (20, 1),
  (20, 2),
  (20, 3),
  (20, 4),
  (20, 5),
  (20, 6),
  (20, 7),
  (20, 8),
  (20, 9),
  (20, 10),
  (20, 11),
  (20, 12),
  (20, 13),
  (20, 14),
  (20, 15),
  (20, 16),
  (20, 17),
  (20, 18),
  (20, 19),
  (20, 20),
  (21, 0),
  (21, 1),
  (21, 2),
  (21, 3),
  (21, 4),
  (21, 5),
  (21, 6),
  (21, 7),
  (21, 8),
  (21, 9),
  (21, 10),
  (21, 11),
  (21, 12),
  (21, 13),
  (21, 14),
  (21, 15),
  (21, 16),
  (21, 17),
  (21, 18),
  (21, 19),
  (21, 20),
  (21, 21),
  (22, 0),
  (22, 1),
  (22, 2),
  (22, 3),
  (22, 4),
  (22, 5),
  (22, 6),
  (22, 7),
  (22, 8),
  (22, 9),
  (22, 10),
  (22, 11),
  (22, 12),
  (22, 13),
  (22, 14),
  (22, 15),
  (22, 16),
  (22, 17),
  (22, 18),
  (22, 19),
  (22, 20),
  (22, 21),
  (22, 22),
  (23, 0),
  (23, 1),
  (23, 2),
  (23, 3),
  (23, 4),
  (23, 5),
  (23, 6),
  (23, 7),
  (23, 8),
  (23, 9),
  (23, 10),
  (23, 11),
  (23, 12),
  (23, 13),
  (23, 14),
  (23, 15),
  (23, 16),
  (23, 17),
  (23, 18),
  (23, 19),
  (23, 20),
  (23, 21),
  (23, 22),
  (23, 23),
  (24, 0),
  (24, 1),
  (24, 2),
  (24, 3),
  (24, 4),
  (24, 5),
  (24, 6),
  (24, 7),
  (24, 8),
  (24, 9),
  (24, 10),
  (24, 11),
  (24, 12),
  (24, 13),
  (24, 14),
  (24, 15),
  (24, 16),
  (24, 17),
  (24, 18),
  (24, 19),
  (24, 20),
  (24, 21),
  (24, 22),
  (24, 23),
  (24, 24),
  (25, 0),
  (25, 1),
  (25, 2),
  (25, 3),
  (25, 4),
  (25, 5),
  (25, 6),
  (25, 7),
  (25, 8),
  (25, 9),
  (25, 10),
  (25, 11),
  (25, 12),
  (25, 13),
  (25, 14),
  (25, 15),
  (25, 16),
  (25, 17),
  (25, 18),
  (25, 19),
  (25, 20),
  (25, 21),
  (25, 22),
  (25, 23),
  (25, 24),
  (25, 25),
  (26, 0),
  (26, 1),
  (26, 2),
  (26, 3),
  (26, 4),
  (26, 5),
  (26, 6),
  (26, 7),
  (26, 8),
  (26, 9),
  (26, 10),
  (26, 11),
  (26, 12),
  (26, 13),
  (26, 14),
  (26, 15),
  (26, 16),
  (26, 17),
  (26, 18),
  (26, 19),
  (26, 20),
  (26, 21),
  (26, 22),
  (26, 23),
  (26, 24),
  (26, 25),
  (26, 26),
  (27, 0),
  (27, 1),
  (27, 2),
  (27, 3),
  (27, 4),
  (27, 5),
  (27, 6),
  (27, 7),
  (27, 8),
  (27, 9),
  (27, 10),
  (27, 11),
  (27, 12),
  (27, 13),
  (27, 14),
  (27, 15),
  (27, 16),
  (27, 17),
  (27, 18),
  (27, 19),
  (27, 20),
  (27, 21),
  (27, 22),
  (27, 23),
  (27, 24),
  (27, 25),
  (27, 26),
  (27, 27),
  (28, 0),
  (28, 1),
  (28, 2),
  (28, 3),
  (28, 4),
  (28, 5),
  (28, 6),
  (28, 7),
  (28, 8),
  (28, 9),
  (28, 10),
  (28, 11),
  (28, 12),
  (28, 13),
  (28, 14),
  (28, 15),
  (28, 16),
  (28, 17),
  (28, 18),
  (28, 19),
  (28, 20),
  (28, 21),
  (28, 22),
  (28, 23),
  (28, 24),
  (28, 25),
  (28, 26),
  (28, 27),
  (28, 28),
  (29, 0),
  (29, 1),
  (29, 2),
  (29, 3),
  (29, 4),
  (29, 5),
  (29, 6),
  (29, 7),
  (29, 8),
  (29, 9),
  (29, 10),
  (29, 11),
  (29, 12),
  (29, 13),
  (29, 14),
  (29, 15),
  (29, 16),
  (29, 17),
  (29, 18),
  (29, 19),
  (29, 20),
  (29, 21),
  (29, 22),
  (29, 23),
  (29, 24),
  (29, 25),
  (29, 26),
  (29, 27),
  (29, 28),
  (29, 29),
  (30, 0),
  (30, 1),
  (30, 2),
  (30, 3),
  (30, 4),
  (30, 5),
  (30, 6),
  (30, 7),
  (30, 8),
  (30, 9),
  (30, 10),
  (30, 11),
  (30, 12),
  (30, 13),
  (30, 14),
  (30, 15),
  (30, 16),
  (30, 17),
  (30, 18),
  (30, 19),
  (30, 20),
  (30, 21),
  (30, 22),
  (30, 23),
  (30, 24),
  (30, 25),
  (30, 26),
  (30, 27),
  (30, 28),
  (30, 29),
  (30, 30),
  (31, 0),
  (31, 1),
  (31, 2),
  (31, 3),
  (31, 4),
  (31, 5),
  (31, 6),
  (31, 7),
  (31, 8),
  (31, 9),
  (31, 10),
  (31, 11),
  (31, 12),
  (31, 13),
  (31, 14),
  (31, 15),
  (31, 16),
  (31, 17),
  (31, 18),
  (31, 19),
  (31, 20),
  (31, 21),
  (31, 22),
  (31, 23),
  (31, 24),
  (31, 25),
  (31, 26),
  (31, 27),
  (31, 28),
  (31, 29),
  (31, 30),
  (31, 31),
  (32, 0),
  (32, 1),
  (32, 2),
  (32, 3),
  (32, 4),
  (32, 5),
  (32, 6),
  (32, 7),
  (32, 8),
  (32, 9),
  (32, 10),
  (32, 11),
  (32, 12),
  (32, 13),
  (32, 14),
  (32, 15),
  (32, 16),
  (32, 17),
  (32, 18),
  (32, 19),
  (32, 20),
  (32, 21),
  (32, 22),
  (32, 23),
  (32, 24),
  (32, 25),
  (32, 26),
  (32, 27),
  (32, 28),
  (32, 29),
  (32, 30),
  (32, 31),
  (32, 32),
  (33, 0),
  (33, 1),
  (33, 2),
  (33, 3),
  (33, 4),
  (33, 5),
  (33, 6),
  (33, 7),
  (33, 8),
  (33, 9),
  (33, 10),
  (33, 11),
  (33, 12),
  (33, 13),
  (33, 14),
  (33, 15),
  (33, 16),
  (33, 17),
  (33, 18),
  (33, 19),
  (33, 20),
  (33, 21),
  (33, 22),
  (33, 23),
  (33, 24),
  (33, 25),
  (33, 26),
  (33, 27),
  (33, 28),
  (33, 29),
  (33, 30),
  (33, 31),
  (33, 32),
  (33, 33),
  (34, 0),
  (34, 1),
  (34, 2),
  (34, 3),
  (34, 4),
  (34, 5),
  (34, 6),
  (34, 7),
  (34, 8),
  (34, 9),
  (34, 10),
  (34, 11),
  (34, 12),
  (34, 13),
  (34, 14),
  (34, 15),
  (34, 16),
  (34, 17),
  (34, 18),
  (34, 19),
  (34, 20),
  (34, 21),
  (34, 22),
  (34, 23),
  (34, 24),
  (34, 25),
  (34, 26),
  (34, 27),
  (34, 28),
  (34, 29),
  (34, 30),
  (34, 31),
  (34, 32),
  (34, 33),
  (34, 34),
  (35, 0),
  (35, 1),
  (35, 2),
  (35, 3),
  (35, 4),
  (35, 5),
  (35, 6),
  (35, 7),
  (35, 8),
  (35, 9),
  (35, 10),
  (35, 11),
  (35, 12),
  (35, 13),
  (35, 14),
  (35, 15),
  (35, 16),
  (35, 17),
  (35, 18),
  (35, 19),
  (35, 20),
  (35, 21),
  (35, 22),
  (35, 23),
  (35, 24),
  (35, 25),
  (35, 26),
  (35, 27),
  (35, 28),
  (35, 29),
  (35, 30),
  (35, 31),
  (35, 32),
  (35, 33),
  (35, 34),
  (35, 35),
  (36, 0),
  (36, 1),
  (36, 2),
  (36, 3),
  (36, 4),
  (36, 5),
  (36, 6),
  (36, 7),
  (36, 8),
  (36, 9),
  (36, 10),
  (36, 11),
  (36, 12),
  (36, 13),
  (36, 14),
  (36, 15),
  (36, 16),
  (36, 17),
  (36, 18),
  (36, 19),
  (36, 20),
  (36, 21),
  (36, 22),
  (36, 23),
  (36, 24),
  (36, 25),
  (36, 26),
  (36, 27),
  (36, 28),
  (36, 29),
  (36, 30),
  (36, 31),
  (36, 32),
  (36, 33),
  (36, 34),
  (36, 35),
  (36, 36)) AS "v"("span", "k");

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
          WHEN COALESCE("t3"."version" < "t3"."_latest", FALSE)
          THEN 0
          WHEN COALESCE("t3"."action" = 'cancel', FALSE)
          THEN 1
          WHEN COALESCE(
            NOT (
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
            ),
            FALSE
          )
          THEN 2
          WHEN COALESCE("t3"."payment_date" > DATE_FROM_PARTS(2023, 6, 30), FALSE)
          THEN 3
          WHEN COALESCE(NOT (
            "t3"."_sp_person" IS NOT NULL
          ), FALSE)
          THEN 4
          ELSE CAST(NULL AS INT)
        END AS "rule_code"
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
    "t1"."rule_code" IS NULL
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
        *
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
            FROM (
              SELECT
                "t24"."person_id",
                "t24"."amount_eur",
                "t24"."subsidised",
                "t24"."wage",
                "t24"."d0",
                "t24"."d1",
                "t24"."m0",
                "t24"."m1",
                CAST("t24"."m0" + "t25"."k" AS INT) AS "alloc_month"
              FROM (
                SELECT
                  "t21"."person_id",
                  "t21"."amount_eur",
                  "t21"."subsidised",
                  "t21"."wage",
                  "t21"."d0",
                  "t21"."d1",
                  "t21"."m0",
                  "t21"."m1",
                  CAST("t21"."m1" - "t21"."m0" AS INT) AS "_span"
                FROM "t0" AS "t21"
                WHERE
                  "t21"."m0" <> "t21"."m1" AND (
                    "t21"."m1" - "t21"."m0"
                  ) <= 36
              ) AS "t24"
              INNER JOIN "impact_const_c0c36551ff" AS "t25"
                ON "t24"."_span" = "t25"."span"
            ) AS "t26"
          ) AS "t23"
          INNER JOIN "impact_const_4c68740bf6" AS "t20"
            ON "t23"."alloc_month" = "t20"."month"
        ) AS "t27"
      ) AS "t28"
      UNION ALL
      SELECT
        *
      FROM (
        SELECT
          "t29"."person_id",
          "t20"."month",
          (
            "t29"."amount_eur" * CAST((
              LEAST("t29"."d1", "t20"."last_day") - GREATEST("t29"."d0", "t20"."first_day")
            ) + 1 AS DOUBLE)
          ) / CAST((
            "t29"."d1" - "t29"."d0"
          ) + 1 AS DOUBLE) AS "amount",
          "t29"."subsidised",
          "t29"."wage",
          GREATEST("t29"."d0", "t20"."first_day") AS "work_day",
          LEAST("t29"."d1", "t20"."last_day") >= (
            "t20"."last_day" - 6
          ) AS "last_week"
        FROM (
          SELECT
            *
          FROM "t0" AS "t21"
          WHERE
            (
              "t21"."m1" - "t21"."m0"
            ) > 36
        ) AS "t29"
        INNER JOIN "impact_const_4c68740bf6" AS "t20"
          ON "t20"."month" >= "t29"."m0" AND "t20"."month" <= "t29"."m1"
      ) AS "t30"
    ) AS "t31"
    UNION ALL
    SELECT
      *
    FROM (
      SELECT
        CAST(NULL AS BIGINT) AS "person_id",
        -1 - "t1"."rule_code" AS "month",
        1.0 AS "amount",
        FALSE AS "subsidised",
        FALSE AS "wage",
        CAST(NULL AS INT) AS "work_day",
        FALSE AS "last_week"
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
              WHEN COALESCE("t3"."version" < "t3"."_latest", FALSE)
              THEN 0
              WHEN COALESCE("t3"."action" = 'cancel', FALSE)
              THEN 1
              WHEN COALESCE(
                NOT (
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
                ),
                FALSE
              )
              THEN 2
              WHEN COALESCE("t3"."payment_date" > DATE_FROM_PARTS(2023, 6, 30), FALSE)
              THEN 3
              WHEN COALESCE(NOT (
                "t3"."_sp_person" IS NOT NULL
              ), FALSE)
              THEN 4
              ELSE CAST(NULL AS INT)
            END AS "rule_code"
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
        "t1"."rule_code" IS NOT NULL
    ) AS "t32"
  ) AS "t18"
  GROUP BY
    1,
    2
) AS "t17";

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
    LEFT OUTER JOIN (
      SELECT
        "t7"."f_unit" AS "l_unit",
        MIN("t7"."x_month") AS "l_month",
        MIN("t7"."x_day") AS "l_day"
      FROM (
        SELECT
          "t8"."f_unit",
          "t8"."f_person",
          "t8"."f_e",
          "t9"."x_person",
          "t9"."x_month",
          "t9"."x_day"
        FROM (
          SELECT
            "t10"."f_unit",
            "t10"."f_person",
            "t10"."f_e"
          FROM (
            SELECT
              "t11"."f_unit",
              "t11"."f_person",
              "t11"."f_e",
              "t2"."w_unit",
              "t2"."w_emp1",
              "t2"."w_emp3",
              "t2"."w_emp6",
              "t2"."w_emp12",
              "t2"."w_nemp6",
              "t2"."w_nemp12",
              "t2"."w_earn1_12",
              "t2"."w_earn13_24",
              "t2"."w_fe_month",
              "t2"."w_fe_day"
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
              ) AS "t12"
              WHERE
                "t12"."f_e" IS NOT NULL
            ) AS "t11"
            LEFT OUTER JOIN "impact_service_window" AS "t2"
              ON "t11"."f_unit" = "t2"."w_unit"
          ) AS "t10"
          WHERE
            "t10"."w_fe_month" IS NULL
        ) AS "t8"
        INNER JOIN (
          SELECT
            "t13"."person_id" AS "x_person",
            "t13"."month" AS "x_month",
            "t13"."first_work_day" AS "x_day"
          FROM "impact_person_month" AS "t13"
          WHERE
            "t13"."month" <= 24281 AND "t13"."employed"
        ) AS "t9"
          ON "t8"."f_person" = "t9"."x_person" AND "t9"."x_month" > (
            "t8"."f_e" + 24
          )
      ) AS "t7"
      GROUP BY
        1
    ) AS "t3"
      ON "t1"."unit_id" = "t3"."l_unit"
    LEFT OUTER JOIN (
      SELECT
        "t14"."fe_unit" AS "rt_unit",
        MAX(CASE WHEN "t14"."s_month" <= (
          "t14"."fe_month" + 3
        ) THEN 1 ELSE 0 END) AS "rt3",
        MAX(CASE WHEN "t14"."s_month" <= (
          "t14"."fe_month" + 6
        ) THEN 1 ELSE 0 END) AS "rt6",
        MAX(CASE WHEN "t14"."s_month" <= (
          "t14"."fe_month" + 12
        ) THEN 1 ELSE 0 END) AS "rt12"
      FROM (
        SELECT
          "t15"."fe_unit",
          "t15"."fe_person",
          "t15"."fe_month",
          "t16"."s_person",
          "t16"."s_month"
        FROM (
          SELECT
            *
          FROM (
            SELECT
              "t11"."f_unit" AS "fe_unit",
              "t11"."f_person" AS "fe_person",
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
              ) AS "t12"
              WHERE
                "t12"."f_e" IS NOT NULL
            ) AS "t11"
            LEFT OUTER JOIN "impact_service_window" AS "t2"
              ON "t11"."f_unit" = "t2"."w_unit"
            LEFT OUTER JOIN (
              SELECT
                "t7"."f_unit" AS "l_unit",
                MIN("t7"."x_month") AS "l_month",
                MIN("t7"."x_day") AS "l_day"
              FROM (
                SELECT
                  "t8"."f_unit",
                  "t8"."f_person",
                  "t8"."f_e",
                  "t9"."x_person",
                  "t9"."x_month",
                  "t9"."x_day"
                FROM (
                  SELECT
                    "t10"."f_unit",
                    "t10"."f_person",
                    "t10"."f_e"
                  FROM (
                    SELECT
                      "t11"."f_unit",
                      "t11"."f_person",
                      "t11"."f_e",
                      "t2"."w_unit",
                      "t2"."w_emp1",
                      "t2"."w_emp3",
                      "t2"."w_emp6",
                      "t2"."w_emp12",
                      "t2"."w_nemp6",
                      "t2"."w_nemp12",
                      "t2"."w_earn1_12",
                      "t2"."w_earn13_24",
                      "t2"."w_fe_month",
                      "t2"."w_fe_day"
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
                      ) AS "t12"
                      WHERE
                        "t12"."f_e" IS NOT NULL
                    ) AS "t11"
                    LEFT OUTER JOIN "impact_service_window" AS "t2"
                      ON "t11"."f_unit" = "t2"."w_unit"
                  ) AS "t10"
                  WHERE
                    "t10"."w_fe_month" IS NULL
                ) AS "t8"
                INNER JOIN (
                  SELECT
                    "t13"."person_id" AS "x_person",
                    "t13"."month" AS "x_month",
                    "t13"."first_work_day" AS "x_day"
                  FROM "impact_person_month" AS "t13"
                  WHERE
                    "t13"."month" <= 24281 AND "t13"."employed"
                ) AS "t9"
                  ON "t8"."f_person" = "t9"."x_person" AND "t9"."x_month" > (
                    "t8"."f_e" + 24
                  )
              ) AS "t7"
              GROUP BY
                1
            ) AS "t3"
              ON "t11"."f_unit" = "t3"."l_unit"
          ) AS "t17"
          WHERE
            "t17"."fe_month" IS NOT NULL
        ) AS "t15"
        INNER JOIN (
          SELECT
            "t18"."person_id" AS "s_person",
            (
              (
                DATE_PART(year, "t18"."start_date") * 12
              ) + DATE_PART(month, "t18"."start_date")
            ) - 1 AS "s_month"
          FROM (
            SELECT
              "t19"."person_id",
              "t19"."spell_id",
              "t19"."start_date",
              "t19"."end_date",
              "t19"."status_at_start",
              "t19"."end_reason",
              "t19"."segment",
              "t19"."municipality",
              CASE
                WHEN "t19"."start_date" > DATE_FROM_PARTS(2023, 6, 30)
                THEN 'spell_starts_after_extraction'
                WHEN (
                  "t19"."end_date" IS NOT NULL
                )
                AND (
                  "t19"."end_date" > DATE_FROM_PARTS(2023, 6, 30)
                )
                THEN 'spell_ends_after_extraction'
                ELSE CAST(NULL AS VARCHAR)
              END AS "drop_rule"
            FROM "jobseeking_spells" AS "t19"
          ) AS "t18"
          WHERE
            "t18"."drop_rule" IS NULL
        ) AS "t16"
          ON "t15"."fe_person" = "t16"."s_person"
          AND "t16"."s_month" >= (
            "t15"."fe_month" + 1
          )
          AND "t16"."s_month" <= (
            "t15"."fe_month" + 12
          )
      ) AS "t14"
      GROUP BY
        1
    ) AS "t4"
      ON "t1"."unit_id" = "t4"."rt_unit"
    LEFT OUTER JOIN (
      SELECT
        "t20"."c_unit" AS "b_unit",
        (
          "t21"."hi1_12_cum" - "t22"."lo1_12_cum"
        ) / 12 AS "b1_12",
        (
          "t23"."hi13_24_cum" - "t24"."lo13_24_cum"
        ) / 12 AS "b13_24"
      FROM (
        SELECT
          "t25"."c_unit",
          "t25"."c_pid",
          "t25"."c_end",
          "t25"."c_year",
          "t25"."c_person",
          "t25"."c_birth",
          "t25"."c_sex",
          "t25"."c_education",
          "t25"."c_employment_area",
          CASE
            WHEN (
              "t25"."c_year" - CAST("t25"."c_birth" AS INT)
            ) >= 60
            THEN 60
            WHEN (
              "t25"."c_year" - CAST("t25"."c_birth" AS INT)
            ) >= 50
            THEN 50
            WHEN (
              "t25"."c_year" - CAST("t25"."c_birth" AS INT)
            ) >= 40
            THEN 40
            WHEN (
              "t25"."c_year" - CAST("t25"."c_birth" AS INT)
            ) >= 30
            THEN 30
            WHEN (
              "t25"."c_year" - CAST("t25"."c_birth" AS INT)
            ) >= 25
            THEN 25
            ELSE 0
          END AS "c_age_band"
        FROM (
          SELECT
            "t26"."c_unit",
            "t26"."c_pid",
            "t26"."c_end",
            "t26"."c_year",
            "t27"."c_person",
            "t27"."c_birth",
            "t27"."c_sex",
            "t27"."c_education",
            "t27"."c_employment_area"
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
            ) AS "t28"
            WHERE
              "t28"."c_end" IS NOT NULL
          ) AS "t26"
          INNER JOIN (
            SELECT
              "t29"."person_id" AS "c_person",
              "t29"."birth_year" AS "c_birth",
              "t29"."sex" AS "c_sex",
              "t29"."education" AS "c_education",
              "t29"."employment_area" AS "c_employment_area"
            FROM "persons" AS "t29"
          ) AS "t27"
            ON "t26"."c_pid" = "t27"."c_person"
        ) AS "t25"
      ) AS "t20"
      LEFT OUTER JOIN (
        SELECT
          "t30"."age_band" AS "lo1_12_age_band",
          "t30"."sex" AS "lo1_12_sex",
          "t30"."education" AS "lo1_12_education",
          "t30"."employment_area" AS "lo1_12_employment_area",
          "t30"."month" AS "lo1_12_month",
          "t30"."cum_base" AS "lo1_12_cum"
        FROM "impact_segment_baseline" AS "t30"
      ) AS "t22"
        ON "t20"."c_age_band" = "t22"."lo1_12_age_band"
        AND "t20"."c_sex" = "t22"."lo1_12_sex"
        AND "t20"."c_education" = "t22"."lo1_12_education"
        AND "t20"."c_employment_area" = "t22"."lo1_12_employment_area"
        AND (
          "t20"."c_end" + 0
        ) = "t22"."lo1_12_month"
      LEFT OUTER JOIN (
        SELECT
          "t30"."age_band" AS "hi1_12_age_band",
          "t30"."sex" AS "hi1_12_sex",
          "t30"."education" AS "hi1_12_education",
          "t30"."employment_area" AS "hi1_12_employment_area",
          "t30"."month" AS "hi1_12_month",
          "t30"."cum_base" AS "hi1_12_cum"
        FROM "impact_segment_baseline" AS "t30"
      ) AS "t21"
        ON "t20"."c_age_band" = "t21"."hi1_12_age_band"
        AND "t20"."c_sex" = "t21"."hi1_12_sex"
        AND "t20"."c_education" = "t21"."hi1_12_education"
        AND "t20"."c_employment_area" = "t21"."hi1_12_employment_area"
        AND (
          "t20"."c_end" + 12
        ) = "t21"."hi1_12_month"
      LEFT OUTER JOIN (
        SELECT
          "t30"."age_band" AS "lo13_24_age_band",
          "t30"."sex" AS "lo13_24_sex",
          "t30"."education" AS "lo13_24_education",
          "t30"."employment_area" AS "lo13_24_employment_area",
          "t30"."month" AS "lo13_24_month",
          "t30"."cum_base" AS "lo13_24_cum"
        FROM "impact_segment_baseline" AS "t30"
      ) AS "t24"
        ON "t20"."c_age_band" = "t24"."lo13_24_age_band"
        AND "t20"."c_sex" = "t24"."lo13_24_sex"
        AND "t20"."c_education" = "t24"."lo13_24_education"
        AND "t20"."c_employment_area" = "t24"."lo13_24_employment_area"
        AND (
          "t20"."c_end" + 12
        ) = "t24"."lo13_24_month"
      LEFT OUTER JOIN (
        SELECT
          "t30"."age_band" AS "hi13_24_age_band",
          "t30"."sex" AS "hi13_24_sex",
          "t30"."education" AS "hi13_24_education",
          "t30"."employment_area" AS "hi13_24_employment_area",
          "t30"."month" AS "hi13_24_month",
          "t30"."cum_base" AS "hi13_24_cum"
        FROM "impact_segment_baseline" AS "t30"
      ) AS "t23"
        ON "t20"."c_age_band" = "t23"."hi13_24_age_band"
        AND "t20"."c_sex" = "t23"."hi13_24_sex"
        AND "t20"."c_education" = "t23"."hi13_24_education"
        AND "t20"."c_employment_area" = "t23"."hi13_24_employment_area"
        AND (
          "t20"."c_end" + 24
        ) = "t23"."hi13_24_month"
    ) AS "t5"
      ON "t1"."unit_id" = "t5"."b_unit"
  ) AS "t0"
) AS "t31"
ORDER BY
  "t31"."service_id" ASC;

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
    LEFT OUTER JOIN (
      SELECT
        "t9"."f_unit" AS "l_unit",
        MIN("t9"."x_month") AS "l_month",
        MIN("t9"."x_day") AS "l_day"
      FROM (
        SELECT
          "t10"."f_unit",
          "t10"."f_person",
          "t10"."f_e",
          "t11"."x_person",
          "t11"."x_month",
          "t11"."x_day"
        FROM (
          SELECT
            "t12"."f_unit",
            "t12"."f_person",
            "t12"."f_e"
          FROM (
            SELECT
              "t13"."f_unit",
              "t13"."f_person",
              "t13"."f_e",
              "t4"."w_unit",
              "t4"."w_emp1",
              "t4"."w_emp3",
              "t4"."w_emp6",
              "t4"."w_emp12",
              "t4"."w_nemp6",
              "t4"."w_nemp12",
              "t4"."w_earn1_12",
              "t4"."w_earn13_24",
              "t4"."w_fe_month",
              "t4"."w_fe_day",
              "t4"."w_fs_month",
              "t4"."w_fs_day"
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
              ) AS "t14"
              WHERE
                "t14"."f_e" IS NOT NULL
            ) AS "t13"
            LEFT OUTER JOIN "impact_spell_window" AS "t4"
              ON "t13"."f_unit" = "t4"."w_unit"
          ) AS "t12"
          WHERE
            "t12"."w_fe_month" IS NULL
        ) AS "t10"
        INNER JOIN (
          SELECT
            "t15"."person_id" AS "x_person",
            "t15"."month" AS "x_month",
            "t15"."first_work_day" AS "x_day"
          FROM "impact_person_month" AS "t15"
          WHERE
            "t15"."month" <= 24281 AND "t15"."employed"
        ) AS "t11"
          ON "t10"."f_person" = "t11"."x_person" AND "t11"."x_month" > (
            "t10"."f_e" + 24
          )
      ) AS "t9"
      GROUP BY
        1
    ) AS "t5"
      ON "t3"."unit_id" = "t5"."l_unit"
    LEFT OUTER JOIN (
      SELECT
        "t16"."fe_unit" AS "rt_unit",
        MAX(CASE WHEN "t16"."s_month" <= (
          "t16"."fe_month" + 3
        ) THEN 1 ELSE 0 END) AS "rt3",
        MAX(CASE WHEN "t16"."s_month" <= (
          "t16"."fe_month" + 6
        ) THEN 1 ELSE 0 END) AS "rt6",
        MAX(CASE WHEN "t16"."s_month" <= (
          "t16"."fe_month" + 12
        ) THEN 1 ELSE 0 END) AS "rt12"
      FROM (
        SELECT
          "t17"."fe_unit",
          "t17"."fe_person",
          "t17"."fe_month",
          "t18"."s_person",
          "t18"."s_month"
        FROM (
          SELECT
            *
          FROM (
            SELECT
              "t13"."f_unit" AS "fe_unit",
              "t13"."f_person" AS "fe_person",
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
              ) AS "t14"
              WHERE
                "t14"."f_e" IS NOT NULL
            ) AS "t13"
            LEFT OUTER JOIN "impact_spell_window" AS "t4"
              ON "t13"."f_unit" = "t4"."w_unit"
            LEFT OUTER JOIN (
              SELECT
                "t9"."f_unit" AS "l_unit",
                MIN("t9"."x_month") AS "l_month",
                MIN("t9"."x_day") AS "l_day"
              FROM (
                SELECT
                  "t10"."f_unit",
                  "t10"."f_person",
                  "t10"."f_e",
                  "t11"."x_person",
                  "t11"."x_month",
                  "t11"."x_day"
                FROM (
                  SELECT
                    "t12"."f_unit",
                    "t12"."f_person",
                    "t12"."f_e"
                  FROM (
                    SELECT
                      "t13"."f_unit",
                      "t13"."f_person",
                      "t13"."f_e",
                      "t4"."w_unit",
                      "t4"."w_emp1",
                      "t4"."w_emp3",
                      "t4"."w_emp6",
                      "t4"."w_emp12",
                      "t4"."w_nemp6",
                      "t4"."w_nemp12",
                      "t4"."w_earn1_12",
                      "t4"."w_earn13_24",
                      "t4"."w_fe_month",
                      "t4"."w_fe_day",
                      "t4"."w_fs_month",
                      "t4"."w_fs_day"
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
                      ) AS "t14"
                      WHERE
                        "t14"."f_e" IS NOT NULL
                    ) AS "t13"
                    LEFT OUTER JOIN "impact_spell_window" AS "t4"
                      ON "t13"."f_unit" = "t4"."w_unit"
                  ) AS "t12"
                  WHERE
                    "t12"."w_fe_month" IS NULL
                ) AS "t10"
                INNER JOIN (
                  SELECT
                    "t15"."person_id" AS "x_person",
                    "t15"."month" AS "x_month",
                    "t15"."first_work_day" AS "x_day"
                  FROM "impact_person_month" AS "t15"
                  WHERE
                    "t15"."month" <= 24281 AND "t15"."employed"
                ) AS "t11"
                  ON "t10"."f_person" = "t11"."x_person" AND "t11"."x_month" > (
                    "t10"."f_e" + 24
                  )
              ) AS "t9"
              GROUP BY
                1
            ) AS "t5"
              ON "t13"."f_unit" = "t5"."l_unit"
          ) AS "t19"
          WHERE
            "t19"."fe_month" IS NOT NULL
        ) AS "t17"
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
        ) AS "t18"
          ON "t17"."fe_person" = "t18"."s_person"
          AND "t18"."s_month" >= (
            "t17"."fe_month" + 1
          )
          AND "t18"."s_month" <= (
            "t17"."fe_month" + 12
          )
      ) AS "t16"
      GROUP BY
        1
    ) AS "t6"
      ON "t3"."unit_id" = "t6"."rt_unit"
    LEFT OUTER JOIN (
      SELECT
        "t20"."c_unit" AS "b_unit",
        (
          "t21"."hi1_12_cum" - "t22"."lo1_12_cum"
        ) / 12 AS "b1_12",
        (
          "t23"."hi13_24_cum" - "t24"."lo13_24_cum"
        ) / 12 AS "b13_24"
      FROM (
        SELECT
          "t25"."c_unit",
          "t25"."c_pid",
          "t25"."c_end",
          "t25"."c_year",
          "t25"."c_person",
          "t25"."c_birth",
          "t25"."c_sex",
          "t25"."c_education",
          "t25"."c_employment_area",
          CASE
            WHEN (
              "t25"."c_year" - CAST("t25"."c_birth" AS INT)
            ) >= 60
            THEN 60
            WHEN (
              "t25"."c_year" - CAST("t25"."c_birth" AS INT)
            ) >= 50
            THEN 50
            WHEN (
              "t25"."c_year" - CAST("t25"."c_birth" AS INT)
            ) >= 40
            THEN 40
            WHEN (
              "t25"."c_year" - CAST("t25"."c_birth" AS INT)
            ) >= 30
            THEN 30
            WHEN (
              "t25"."c_year" - CAST("t25"."c_birth" AS INT)
            ) >= 25
            THEN 25
            ELSE 0
          END AS "c_age_band"
        FROM (
          SELECT
            "t26"."c_unit",
            "t26"."c_pid",
            "t26"."c_end",
            "t26"."c_year",
            "t27"."c_person",
            "t27"."c_birth",
            "t27"."c_sex",
            "t27"."c_education",
            "t27"."c_employment_area"
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
            ) AS "t28"
            WHERE
              "t28"."c_end" IS NOT NULL
          ) AS "t26"
          INNER JOIN (
            SELECT
              "t29"."person_id" AS "c_person",
              "t29"."birth_year" AS "c_birth",
              "t29"."sex" AS "c_sex",
              "t29"."education" AS "c_education",
              "t29"."employment_area" AS "c_employment_area"
            FROM "persons" AS "t29"
          ) AS "t27"
            ON "t26"."c_pid" = "t27"."c_person"
        ) AS "t25"
      ) AS "t20"
      LEFT OUTER JOIN (
        SELECT
          "t30"."age_band" AS "lo1_12_age_band",
          "t30"."sex" AS "lo1_12_sex",
          "t30"."education" AS "lo1_12_education",
          "t30"."employment_area" AS "lo1_12_employment_area",
          "t30"."month" AS "lo1_12_month",
          "t30"."cum_base" AS "lo1_12_cum"
        FROM "impact_segment_baseline" AS "t30"
      ) AS "t22"
        ON "t20"."c_age_band" = "t22"."lo1_12_age_band"
        AND "t20"."c_sex" = "t22"."lo1_12_sex"
        AND "t20"."c_education" = "t22"."lo1_12_education"
        AND "t20"."c_employment_area" = "t22"."lo1_12_employment_area"
        AND (
          "t20"."c_end" + 0
        ) = "t22"."lo1_12_month"
      LEFT OUTER JOIN (
        SELECT
          "t30"."age_band" AS "hi1_12_age_band",
          "t30"."sex" AS "hi1_12_sex",
          "t30"."education" AS "hi1_12_education",
          "t30"."employment_area" AS "hi1_12_employment_area",
          "t30"."month" AS "hi1_12_month",
          "t30"."cum_base" AS "hi1_12_cum"
        FROM "impact_segment_baseline" AS "t30"
      ) AS "t21"
        ON "t20"."c_age_band" = "t21"."hi1_12_age_band"
        AND "t20"."c_sex" = "t21"."hi1_12_sex"
        AND "t20"."c_education" = "t21"."hi1_12_education"
        AND "t20"."c_employment_area" = "t21"."hi1_12_employment_area"
        AND (
          "t20"."c_end" + 12
        ) = "t21"."hi1_12_month"
      LEFT OUTER JOIN (
        SELECT
          "t30"."age_band" AS "lo13_24_age_band",
          "t30"."sex" AS "lo13_24_sex",
          "t30"."education" AS "lo13_24_education",
          "t30"."employment_area" AS "lo13_24_employment_area",
          "t30"."month" AS "lo13_24_month",
          "t30"."cum_base" AS "lo13_24_cum"
        FROM "impact_segment_baseline" AS "t30"
      ) AS "t24"
        ON "t20"."c_age_band" = "t24"."lo13_24_age_band"
        AND "t20"."c_sex" = "t24"."lo13_24_sex"
        AND "t20"."c_education" = "t24"."lo13_24_education"
        AND "t20"."c_employment_area" = "t24"."lo13_24_employment_area"
        AND (
          "t20"."c_end" + 12
        ) = "t24"."lo13_24_month"
      LEFT OUTER JOIN (
        SELECT
          "t30"."age_band" AS "hi13_24_age_band",
          "t30"."sex" AS "hi13_24_sex",
          "t30"."education" AS "hi13_24_education",
          "t30"."employment_area" AS "hi13_24_employment_area",
          "t30"."month" AS "hi13_24_month",
          "t30"."cum_base" AS "hi13_24_cum"
        FROM "impact_segment_baseline" AS "t30"
      ) AS "t23"
        ON "t20"."c_age_band" = "t23"."hi13_24_age_band"
        AND "t20"."c_sex" = "t23"."hi13_24_sex"
        AND "t20"."c_education" = "t23"."hi13_24_education"
        AND "t20"."c_employment_area" = "t23"."hi13_24_employment_area"
        AND (
          "t20"."c_end" + 24
        ) = "t23"."hi13_24_month"
    ) AS "t7"
      ON "t3"."unit_id" = "t7"."b_unit"
  ) AS "t2"
) AS "t31"
ORDER BY
  "t31"."spell_id" ASC;

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
