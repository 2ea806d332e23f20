"""Output recorded on real boards, copied from public material; each constant names its source.

Only what a person ran on the board and pasted is here (whitespace as published; a docstring's own
indentation removed where noted). Inputs made up for a test are built in the tests themselves.
"""

from __future__ import annotations

# --- Raspberry Pi 5: vcgencmd pmic_read_adc -----------------------------------------------------------

# github.com/jfikar/RPi5-power README.md ("The command to read PMIC is"): a Pi 5 under load.
PI5_PMIC_LOADED = """\
 3V7_WL_SW_A current(0)=0.00000000A
   3V3_SYS_A current(1)=0.06245952A
   1V8_SYS_A current(2)=0.16102850A
  DDR_VDD2_A current(3)=0.00780744A
  DDR_VDDQ_A current(4)=0.00000000A
   1V1_SYS_A current(5)=0.17566740A
    0V8_SW_A current(6)=0.32791250A
  VDD_CORE_A current(7)=10.87674000A
   3V3_DAC_A current(17)=0.00036630A
   3V3_ADC_A current(18)=0.00042735A
   0V8_AON_A current(16)=0.00579975A
      HDMI_A current(22)=0.01367520A
 3V7_WL_SW_V volt(8)=3.79999600V
   3V3_SYS_V volt(9)=3.30632200V
   1V8_SYS_V volt(10)=1.79828900V
  DDR_VDD2_V volt(11)=1.10292900V
  DDR_VDDQ_V volt(12)=0.60476130V
   1V1_SYS_V volt(13)=1.10439400V
    0V8_SW_V volt(14)=0.80256330V
  VDD_CORE_V volt(15)=0.89745940V
   3V3_DAC_V volt(20)=3.30494200V
   3V3_ADC_V volt(21)=3.30219400V
   0V8_AON_V volt(19)=0.79736190V
      HDMI_V volt(23)=5.07056000V
     EXT5V_V volt(24)=5.06788000V
      BATT_V volt(25)=3.01110800V
"""

# github.com/Short-bus/pilomar src/pilomarcpu.py, the docstring of MeasurePower ("vcgencmd pmic_read_adc
# generates output like this..."), the docstring's indentation removed.
PI5_PMIC_PILOMAR = """\
 3V7_WL_SW_A current(0)=0.05855580A
   3V3_SYS_A current(1)=0.06148359A
   1V8_SYS_A current(2)=0.13272650A
  DDR_VDD2_A current(3)=0.13955800A
  DDR_VDDQ_A current(4)=0.00980400A
   1V1_SYS_A current(5)=0.19811380A
    0V8_SW_A current(6)=0.34157550A
  VDD_CORE_A current(7)=5.03652000A
   3V3_DAC_A current(17)=0.00006105A
   3V3_ADC_A current(18)=0.00054945A
   0V8_AON_A current(16)=0.00531135A
      HDMI_A current(22)=0.02161170A
 3V7_WL_SW_V volt(8)=3.61069200V
   3V3_SYS_V volt(9)=3.29982600V
   1V8_SYS_V volt(10)=1.81684800V
  DDR_VDD2_V volt(11)=1.10109800V
  DDR_VDDQ_V volt(12)=0.60366240V
   1V1_SYS_V volt(13)=1.10292900V
    0V8_SW_V volt(14)=0.80292960V
  VDD_CORE_V volt(15)=0.89369880V
   3V3_DAC_V volt(20)=3.29944700V
   3V3_ADC_V volt(21)=3.30402600V
   0V8_AON_V volt(19)=0.79618980V
      HDMI_V volt(23)=4.92450000V
     EXT5V_V volt(24)=4.92450000V
      BATT_V volt(25)=0.00341880V
"""

# The (current, voltage) pairs of each recorded output above, rail by rail, read off by hand: what
# the parser must pair by name (the 0V8_AON lines come after 3V3_ADC's, not in channel order).
PI5_PMIC_LOADED_RAILS = {
    "3V7_WL_SW": (0.0, 3.799996), "3V3_SYS": (0.06245952, 3.306322), "1V8_SYS": (0.1610285, 1.798289),
    "DDR_VDD2": (0.00780744, 1.102929), "DDR_VDDQ": (0.0, 0.6047613), "1V1_SYS": (0.1756674, 1.104394),
    "0V8_SW": (0.3279125, 0.8025633), "VDD_CORE": (10.87674, 0.8974594), "3V3_DAC": (0.0003663, 3.304942),
    "3V3_ADC": (0.00042735, 3.302194), "0V8_AON": (0.00579975, 0.7973619), "HDMI": (0.0136752, 5.07056),
}
PI5_PMIC_PILOMAR_RAILS = {
    "3V7_WL_SW": (0.0585558, 3.610692), "3V3_SYS": (0.06148359, 3.299826), "1V8_SYS": (0.1327265, 1.816848),
    "DDR_VDD2": (0.139558, 1.101098), "DDR_VDDQ": (0.009804, 0.6036624), "1V1_SYS": (0.1981138, 1.102929),
    "0V8_SW": (0.3415755, 0.8029296), "VDD_CORE": (5.03652, 0.8936988), "3V3_DAC": (0.00006105, 3.299447),
    "3V3_ADC": (0.00054945, 3.304026), "0V8_AON": (0.00531135, 0.7961898), "HDMI": (0.0216117, 4.9245),
}

# --- Raspberry Pi: other vcgencmd and /proc/cpuinfo -----------------------------------------------------

# github.com/raspberrypi/linux/issues/6473 ("Pi 5 low 3V7_WL_SW_V when high Temp"), the System
# section: `vcgencmd version` on a Raspberry Pi 5.
PI5_VCGENCMD_VERSION = """\
2024/09/23 14:02:56
Copyright (c) 2012 Broadcom
version 26826259 (release) (embedded)
"""

# github.com/raspberrypi/bookworm-feedback/issues/129 ("Incorrect Processor showing on Raspberry Pi 5"):
# `cat /proc/cpuinfo`. No "model name"; "Hardware" names an old chip (the kernel hard-codes BCM2835).
PI5_CPUINFO = """\
processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x4
CPU part\t: 0xd0b
CPU revision\t: 1

processor\t: 1
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x4
CPU part\t: 0xd0b
CPU revision\t: 1

processor\t: 2
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x4
CPU part\t: 0xd0b
CPU revision\t: 1

processor\t: 3
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x4
CPU part\t: 0xd0b
CPU revision\t: 1

Hardware\t: BCM2835
Revision\t: d04170
Serial\t\t: ee14f78c1312ce93
Model\t\t: Raspberry Pi 5 Model B Rev 1.0
"""

# github.com/hrw/arm-socs-table/issues/6 ("Raspberry Pi 3 Model B Rev 1.2"): a 32-bit kernel's
# /proc/cpuinfo, whose "model name" is the ISA, not the core.
PI3_CPUINFO_32BIT = """\
processor       : 0
model name      : ARMv8 Processor rev 4 (v8l)
BogoMIPS        : 38.40
Features        : fp asimd evtstrm crc32 cpuid
CPU implementer : 0x41
CPU architecture: 8
CPU variant     : 0x0
CPU part        : 0xd03
CPU revision    : 4

processor       : 1
model name      : ARMv8 Processor rev 4 (v8l)
BogoMIPS        : 38.40
Features        : fp asimd evtstrm crc32 cpuid
CPU implementer : 0x41
CPU architecture: 8
CPU variant     : 0x0
CPU part        : 0xd03
CPU revision    : 4

processor       : 2
model name      : ARMv8 Processor rev 4 (v8l)
BogoMIPS        : 38.40
Features        : fp asimd evtstrm crc32 cpuid
CPU implementer : 0x41
CPU architecture: 8
CPU variant     : 0x0
CPU part        : 0xd03
CPU revision    : 4

processor       : 3
model name      : ARMv8 Processor rev 4 (v8l)
BogoMIPS        : 38.40
Features        : fp asimd evtstrm crc32 cpuid
CPU implementer : 0x41
CPU architecture: 8
CPU variant     : 0x0
CPU part        : 0xd03
CPU revision    : 4

Hardware        : BCM2835
Revision        : a02082
Serial          : 000000002e2fe545
Model           : Raspberry Pi 3 Model B Rev 1.2

"""

# --- NVIDIA Jetson ------------------------------------------------------------------------------------

# github.com/hrw/arm-socs-table/issues/91 ("Jetson Nano"), kernel 5.15.11: /proc/cpuinfo with neither
# "model name" nor "Hardware" nor "Model".
JETSON_NANO_CPUINFO = """\
processor\t: 0
BogoMIPS\t: 38.40
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x1
CPU part\t: 0xd07
CPU revision\t: 1

processor\t: 1
BogoMIPS\t: 38.40
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x1
CPU part\t: 0xd07
CPU revision\t: 1

processor\t: 2
BogoMIPS\t: 38.40
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x1
CPU part\t: 0xd07
CPU revision\t: 1

processor\t: 3
BogoMIPS\t: 38.40
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x1
CPU part\t: 0xd07
CPU revision\t: 1

"""

# github.com/lkk688/edgeAI docs/curriculum/02a_linux_basics.md ("Step 4: Explore L4T Features"): an
# Orin Nano Super on JetPack 6.2. `head -n 1 /etc/nv_tegra_release`, `nvpmodel -q`, the device tree.
ORIN_NANO_SUPER_NV_TEGRA_RELEASE = (
    "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, "
    "DATE: Wed Jan  8 01:49:37 UTC 2025\n"
)
ORIN_NANO_SUPER_NVPMODEL_Q = "NV Power Mode: MAXN_SUPER\n2\n"
ORIN_NANO_SUPER_MODEL = "NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super"

# github.com/canonical/tegra-snap-samples nvpmodel/README.md: a Jetson Orin Nano 8GB set to mode 0 (15W),
# `nvpmodel --query` and `jetson-clocks-show` (jetson_clocks --show) through the snap.
ORIN_NANO_NVPMODEL_15W = "NV Power Mode: 15W\n0\n"
ORIN_NANO_JETSON_CLOCKS_SHOW = """\
SOC family:tegra234  Machine:NVIDIA Jetson Orin Nano Developer Kit
Online CPUs: 0-5
cpu0:  Online=1 Governor=ondemand MinFreq=729600 MaxFreq=1510400 CurrentFreq=960000 IdleStates: WFI=1 c7=1
cpu1:  Online=1 Governor=ondemand MinFreq=729600 MaxFreq=1510400 CurrentFreq=729600 IdleStates: WFI=1 c7=1
cpu2:  Online=1 Governor=ondemand MinFreq=729600 MaxFreq=1510400 CurrentFreq=729600 IdleStates: WFI=1 c7=1
cpu3:  Online=1 Governor=ondemand MinFreq=729600 MaxFreq=1510400 CurrentFreq=960000 IdleStates: WFI=1 c7=1
cpu4:  Online=1 Governor=ondemand MinFreq=729600 MaxFreq=1510400 CurrentFreq=729600 IdleStates: WFI=1 c7=1
cpu5:  Online=1 Governor=ondemand MinFreq=729600 MaxFreq=1510400 CurrentFreq=729600 IdleStates: WFI=1 c7=1
GPU MinFreq=306000000 MaxFreq=624750000 CurrentFreq=306000000
Active GPU TPCs: 4
EMC MinFreq=204000000 MaxFreq=2133000000 CurrentFreq=665600000 FreqOverride=0
Failed to retrieve unit state: Access denied
Failed to retrieve unit state: Access denied
FAN Dynamic Speed Control=kernel hwmon0_pwm1=88
"""

# github.com/jfey/SmallThings jetson-nano.md: a Jetson Nano's /etc/nvpmodel/nvpmodel_t210_jetson-nano.conf
# ("POWER_MODEL DEFINITIONS" section) and `sudo jetson_clocks --show` before jetson_clocks ran.
JETSON_NANO_NVPMODEL_CONF = """\
###########################
#                         #
# POWER_MODEL DEFINITIONS #
#                         #
###########################

# MAXN is the NONE power model to release all constraints
< POWER_MODEL ID=0 NAME=MAXN >
CPU_ONLINE CORE_0 1
CPU_ONLINE CORE_1 1
CPU_ONLINE CORE_2 1
CPU_ONLINE CORE_3 1
CPU_A57 MIN_FREQ  0
CPU_A57 MAX_FREQ -1
GPU_POWER_CONTROL_ENABLE GPU_PWR_CNTL_EN on
GPU MIN_FREQ  0
GPU MAX_FREQ -1
GPU_POWER_CONTROL_DISABLE GPU_PWR_CNTL_DIS auto
EMC MAX_FREQ 0

< POWER_MODEL ID=1 NAME=5W >
CPU_ONLINE CORE_0 1
CPU_ONLINE CORE_1 1
CPU_ONLINE CORE_2 0
CPU_ONLINE CORE_3 0
CPU_A57 MIN_FREQ  0
CPU_A57 MAX_FREQ 918000
GPU_POWER_CONTROL_ENABLE GPU_PWR_CNTL_EN on
GPU MIN_FREQ 0
GPU MAX_FREQ 640000000
GPU_POWER_CONTROL_DISABLE GPU_PWR_CNTL_DIS auto
EMC MAX_FREQ 1600000000
"""
JETSON_NANO_JETSON_CLOCKS_SHOW = """\
SOC family:tegra210  Machine:jetson-nano
Online CPUs: 0-3
CPU Cluster Switching: Disabled
cpu0: Online=1 Governor=schedutil MinFreq=102000 MaxFreq=1428000 CurrentFreq=1428000 IdleStates: WFI=1 c7=1
cpu1: Online=1 Governor=schedutil MinFreq=102000 MaxFreq=1428000 CurrentFreq=1428000 IdleStates: WFI=1 c7=1
cpu2: Online=1 Governor=schedutil MinFreq=102000 MaxFreq=1428000 CurrentFreq=1428000 IdleStates: WFI=1 c7=1
cpu3: Online=1 Governor=schedutil MinFreq=102000 MaxFreq=1428000 CurrentFreq=1428000 IdleStates: WFI=1 c7=1
GPU MinFreq=76800000 MaxFreq=921600000 CurrentFreq=153600000
EMC MinFreq=204000000 MaxFreq=1600000000 CurrentFreq=1600000000 FreqOverride=0
Fan: speed=0
NV Power Mode: MAXN
"""

# github.com/ay65535/dotfiles local/share/jetson-nano/firstrun.sh: `cat /etc/nv_tegra_release` on a
# Jetson Nano (JetPack 4.6.6).
JETSON_NANO_NV_TEGRA_RELEASE = (
    "# R32 (release), REVISION: 7.6, GCID: 38171779, BOARD: t210ref, EABI: aarch64, "
    "DATE: Tue Nov  5 07:46:14 UTC 2024\n"
)

# github.com/anduril/jetpack-nixos/pull/460 ("nvpmodel: fix mode switching on JP7"): `nvpmodel -q` on a
# Thor AGX devkit.
THOR_NVPMODEL_Q = "NV Power Mode: MAXN\n0\n"
