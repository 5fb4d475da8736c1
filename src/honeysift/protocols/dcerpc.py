"""DCE/RPC connection-oriented PDUs (C706 chapter 12, [MS-RPCE] 2.2.2) and call reassembly.

The question for a honeypot is "which RPC interface and operation did the attacker call"
(SAMR enumeration, LSA lookups, NetrShareEnum, the MS03-026 / MS04-011 / MS08-067 targets).
:func:`parse_pdus` splits one direction (tcp/135 or the bytes of an SMB named pipe) into PDUs;
:func:`decode_connection` takes both directions, applies the bind's context -> interface
mapping, reassembles fragmented requests/responses per call id and pairs them into calls.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from honeysift.protocols.base import Node, Reader, Truncated
from honeysift.protocols.ntstatus import nt_status_text
from honeysift.protocols.smb1 import Ntlmssp, find_ntlmssp
from honeysift.safe_text import safe

HEADER_LEN = 16
MAX_PDUS = 100_000
MAX_CONTEXTS = 64  # per bind; n_context_elem is a u8 anyway
MAX_FRAGMENTS = 4096  # per reassembled call
MAX_STUB = 16 * 1024 * 1024  # per reassembled call

# C706 12.6.4.x / [MS-RPCE] 2.2.2.x PTYPE values
PTYPES: dict[int, str] = {
    0: "Request",
    1: "Ping",
    2: "Response",
    3: "Fault",
    4: "Working",
    5: "Nocall",
    6: "Reject",
    7: "Ack",
    8: "Cl_cancel",
    9: "Fack",
    10: "Cancel_ack",
    11: "Bind",
    12: "Bind_ack",
    13: "Bind_nak",
    14: "Alter_context",
    15: "Alter_context_resp",
    16: "AUTH3",
    17: "Shutdown",
    18: "Co_cancel",
    19: "Orphaned",
}
REQUEST, RESPONSE, FAULT = 0, 2, 3
BIND, BIND_ACK, BIND_NAK, ALTER, ALTER_RESP, AUTH3 = 11, 12, 13, 14, 15, 16

PFC_FIRST_FRAG = 0x01
PFC_LAST_FRAG = 0x02
PFC_OBJECT_UUID = 0x80

# C706 12.6.3.1 p_cont_def_result_t / [MS-RPCE] 2.2.2.4
ACK_RESULTS = {0: "Acceptance", 1: "User rejection", 2: "Provider rejection", 3: "Negotiate ack"}
AUTH_TYPES = {
    0: "None",
    9: "SPNEGO",
    10: "NTLMSSP",
    16: "Kerberos",
    68: "NETLOGON Secure Channel",
    255: "Default",
}

# Transfer syntaxes: NDR (C706 14), NDR64 ([MS-RPCE] 2.2.5.2), bind-time feature negotiation
# ([MS-RPCE] 3.3.1.5.3: the UUID prefix 6cb71c2c-9812-4540 carries the feature bits).
NDR = "8a885d04-1ceb-11c9-9fe8-08002b104860"
NDR64 = "71710533-beba-4937-8319-b5dbef9ccc36"
TRANSFER_SYNTAXES = {NDR: "32bit NDR", NDR64: "64bit NDR"}

# Interface UUID -> short name. Sources: [MS-SAMR] 1.9, [MS-LSAD] 1.9, [MS-SRVS] 1.9,
# [MS-WKST] 1.9, [MS-NRPC] 1.9, [MS-SCMR] 1.9, [MS-TSCH] 1.9, [MS-RRP] 1.9, [MS-DRSR] 1.9,
# [MS-DSSP] 1.9, [MS-OXCRPC] 1.9 (EMSMDB), [MS-NSPI] 1.9, [MS-DCOM] 1.9, C706 appendix O (EPM).
INTERFACES: dict[str, str] = {
    "12345778-1234-abcd-ef00-0123456789ac": "SAMR",
    "12345778-1234-abcd-ef00-0123456789ab": "LSARPC",
    "4b324fc8-1670-01d3-1278-5a47bf6ee188": "SRVSVC",
    "6bffd098-a112-3610-9833-46c3f87e345a": "WKSSVC",
    "12345678-1234-abcd-ef00-01234567cffb": "NETLOGON",
    "e1af8308-5d1f-11c9-91a4-08002b14a0fa": "EPM",
    "367abb81-9844-35f1-ad32-98f038001003": "SVCCTL",
    "1ff70682-0a51-30e8-076d-740be8cee98b": "ATSVC",
    "338cd001-2244-31f1-aaaa-900038001003": "WINREG",
    "e3514235-4b06-11d1-ab04-00c04fc2dcd2": "DRSUAPI",
    "3919286a-b10c-11d0-9ba8-00c04fd92ef5": "DSSETUP",
    "a4f1db00-ca47-1067-b31f-00dd010662da": "EMSMDB",
    "f5cc5a18-4264-101a-8c59-08002b2f8426": "NSPI",
    "12345678-1234-abcd-ef00-0123456789ab": "SPOOLSS",
    "4d9f4ab8-7d1c-11cf-861e-0020af6e7c57": "IRemoteActivation",
    "000001a0-0000-0000-c000-000000000046": "ISystemActivator",
    "99fcfec4-5260-101b-bbcb-00aa0021347a": "IOXIDResolver",
    "86d35949-83c9-4044-b424-db363231fd0c": "ITaskSchedulerService",
}


def _names(*names: str) -> dict[int, str]:
    return dict(enumerate(names))


# Opnum -> operation, from each interface's "Message Processing Events" section.
# [MS-SAMR] 3.1.5
SAMR_OPS = _names(
    "SamrConnect",
    "SamrCloseHandle",
    "SamrSetSecurityObject",
    "SamrQuerySecurityObject",
    "Opnum4NotUsedOnWire",
    "SamrLookupDomainInSamServer",
    "SamrEnumerateDomainsInSamServer",
    "SamrOpenDomain",
    "SamrQueryInformationDomain",
    "SamrSetInformationDomain",
    "SamrCreateGroupInDomain",
    "SamrEnumerateGroupsInDomain",
    "SamrCreateUserInDomain",
    "SamrEnumerateUsersInDomain",
    "SamrCreateAliasInDomain",
    "SamrEnumerateAliasesInDomain",
    "SamrGetAliasMembership",
    "SamrLookupNamesInDomain",
    "SamrLookupIdsInDomain",
    "SamrOpenGroup",
    "SamrQueryInformationGroup",
    "SamrSetInformationGroup",
    "SamrAddMemberToGroup",
    "SamrDeleteGroup",
    "SamrRemoveMemberFromGroup",
    "SamrGetMembersInGroup",
    "SamrSetMemberAttributesOfGroup",
    "SamrOpenAlias",
    "SamrQueryInformationAlias",
    "SamrSetInformationAlias",
    "SamrDeleteAlias",
    "SamrAddMemberToAlias",
    "SamrRemoveMemberFromAlias",
    "SamrGetMembersInAlias",
    "SamrOpenUser",
    "SamrDeleteUser",
    "SamrQueryInformationUser",
    "SamrSetInformationUser",
    "SamrChangePasswordUser",
    "SamrGetGroupsForUser",
    "SamrQueryDisplayInformation",
    "SamrGetDisplayEnumerationIndex",
    "Opnum42NotUsedOnWire",
    "Opnum43NotUsedOnWire",
    "SamrGetUserDomainPasswordInformation",
    "SamrRemoveMemberFromForeignDomain",
    "SamrQueryInformationDomain2",
    "SamrQueryInformationUser2",
    "SamrQueryDisplayInformation2",
    "SamrGetDisplayEnumerationIndex2",
    "SamrCreateUser2InDomain",
    "SamrQueryDisplayInformation3",
    "SamrAddMultipleMembersToAlias",
    "SamrRemoveMultipleMembersFromAlias",
    "SamrOemChangePasswordUser2",
    "SamrUnicodeChangePasswordUser2",
    "SamrGetDomainPasswordInformation",
    "SamrConnect2",
    "SamrSetInformationUser2",
    "Opnum59NotUsedOnWire",
    "Opnum60NotUsedOnWire",
    "Opnum61NotUsedOnWire",
    "SamrConnect4",
    "Opnum63NotUsedOnWire",
    "SamrConnect5",
    "SamrRidToSid",
    "SamrSetDSRMPassword",
    "SamrValidatePassword",
)
# [MS-LSAD] 3.1.4 and [MS-LSAT] 3.1.4 (one interface, shared opnum space)
LSARPC_OPS = _names(
    "LsarClose",
    "Opnum1NotUsedOnWire",
    "LsarEnumeratePrivileges",
    "LsarQuerySecurityObject",
    "LsarSetSecurityObject",
    "Opnum5NotUsedOnWire",
    "LsarOpenPolicy",
    "LsarQueryInformationPolicy",
    "LsarSetInformationPolicy",
    "Opnum9NotUsedOnWire",
    "LsarCreateAccount",
    "LsarEnumerateAccounts",
    "LsarCreateTrustedDomain",
    "LsarEnumerateTrustedDomains",
    "LsarLookupNames",
    "LsarLookupSids",
    "LsarCreateSecret",
    "LsarOpenAccount",
    "LsarEnumeratePrivilegesAccount",
    "LsarAddPrivilegesToAccount",
    "LsarRemovePrivilegesFromAccount",
    "Opnum21NotUsedOnWire",
    "Opnum22NotUsedOnWire",
    "LsarGetSystemAccessAccount",
    "LsarSetSystemAccessAccount",
    "LsarOpenTrustedDomain",
    "LsarQueryInfoTrustedDomain",
    "LsarSetInformationTrustedDomain",
    "LsarOpenSecret",
    "LsarSetSecret",
    "LsarQuerySecret",
    "LsarLookupPrivilegeValue",
    "LsarLookupPrivilegeName",
    "LsarLookupPrivilegeDisplayName",
    "LsarDeleteObject",
    "LsarEnumerateAccountsWithUserRight",
    "LsarEnumerateAccountRights",
    "LsarAddAccountRights",
    "LsarRemoveAccountRights",
    "LsarQueryTrustedDomainInfo",
    "LsarSetTrustedDomainInfo",
    "LsarDeleteTrustedDomain",
    "LsarStorePrivateData",
    "LsarRetrievePrivateData",
    "LsarOpenPolicy2",
    "LsarGetUserName",
    "LsarQueryInformationPolicy2",
    "LsarSetInformationPolicy2",
    "LsarQueryTrustedDomainInfoByName",
    "LsarSetTrustedDomainInfoByName",
    "LsarEnumerateTrustedDomainsEx",
    "LsarCreateTrustedDomainEx",
    "Opnum52NotUsedOnWire",
    "LsarQueryDomainInformationPolicy",
    "LsarSetDomainInformationPolicy",
    "LsarOpenTrustedDomainByName",
    "Opnum56NotUsedOnWire",
    "LsarLookupSids2",
    "LsarLookupNames2",
    "LsarCreateTrustedDomainEx2",
) | {
    68: "LsarLookupNames3",
    73: "LsarQueryForestTrustInformation",
    74: "LsarSetForestTrustInformation",
    76: "LsarLookupSids3",
    77: "LsarLookupNames4",
}
# [MS-SRVS] 3.1.4 (opnums 0-7 are not used on the wire)
SRVSVC_OPS = {i: f"Opnum{i}NotUsedOnWire" for i in range(8)} | {
    i + 8: n
    for i, n in enumerate(
        (
            "NetrConnectionEnum",
            "NetrFileEnum",
            "NetrFileGetInfo",
            "NetrFileClose",
            "NetrSessionEnum",
            "NetrSessionDel",
            "NetrShareAdd",
            "NetrShareEnum",
            "NetrShareGetInfo",
            "NetrShareSetInfo",
            "NetrShareDel",
            "NetrShareDelSticky",
            "NetrShareCheck",
            "NetrServerGetInfo",
            "NetrServerSetInfo",
            "NetrServerDiskEnum",
            "NetrServerStatisticsGet",
            "NetrServerTransportAdd",
            "NetrServerTransportEnum",
            "NetrServerTransportDel",
            "NetrRemoteTOD",
            "Opnum29NotUsedOnWire",
            "NetprPathType",
            "NetprPathCanonicalize",
            "NetprPathCompare",
            "NetprNameValidate",
            "NetprNameCanonicalize",
            "NetprNameCompare",
            "NetrShareEnumSticky",
            "NetrShareDelStart",
            "NetrShareDelCommit",
            "NetrpGetFileSecurity",
            "NetrpSetFileSecurity",
            "NetrServerTransportAddEx",
            "Opnum42NotUsedOnWire",
            "NetrDfsGetVersion",
            "NetrDfsCreateLocalPartition",
            "NetrDfsDeleteLocalPartition",
            "NetrDfsSetLocalVolumeState",
            "Opnum47NotUsedOnWire",
            "NetrDfsCreateExitPoint",
            "NetrDfsDeleteExitPoint",
            "NetrDfsModifyPrefix",
            "NetrDfsFixLocalVolume",
            "NetrDfsManagerReportSiteInfo",
            "NetrServerTransportDelEx",
            "NetrServerAliasAdd",
            "NetrServerAliasEnum",
            "NetrServerAliasDel",
            "NetrShareDelEx",
        )
    )
}
# [MS-WKST] 3.2.4
WKSSVC_OPS = {
    0: "NetrWkstaGetInfo",
    1: "NetrWkstaSetInfo",
    2: "NetrWkstaUserEnum",
    5: "NetrWkstaTransportEnum",
    6: "NetrWkstaTransportAdd",
    7: "NetrWkstaTransportDel",
    8: "NetrUseAdd",
    9: "NetrUseGetInfo",
    10: "NetrUseDel",
    11: "NetrUseEnum",
    13: "NetrWorkstationStatisticsGet",
    20: "NetrGetJoinInformation",
    22: "NetrJoinDomain2",
    23: "NetrUnjoinDomain2",
    24: "NetrRenameMachineInDomain2",
    25: "NetrValidateName2",
    26: "NetrGetJoinableOUs2",
    27: "NetrAddAlternateComputerName",
    28: "NetrRemoveAlternateComputerName",
    29: "NetrSetPrimaryComputerName",
    30: "NetrEnumerateComputerNames",
}
# [MS-NRPC] 3.5.4
NETLOGON_OPS = _names(
    "NetrLogonUasLogon",
    "NetrLogonUasLogoff",
    "NetrLogonSamLogon",
    "NetrLogonSamLogoff",
    "NetrServerReqChallenge",
    "NetrServerAuthenticate",
    "NetrServerPasswordSet",
    "NetrDatabaseDeltas",
    "NetrDatabaseSync",
    "NetrAccountDeltas",
    "NetrAccountSync",
    "NetrGetDCName",
    "NetrLogonControl",
    "NetrGetAnyDCName",
    "NetrLogonControl2",
    "NetrServerAuthenticate2",
    "NetrDatabaseSync2",
    "NetrDatabaseRedo",
    "NetrLogonControl2Ex",
    "NetrEnumerateTrustedDomains",
    "DsrGetDcName",
    "NetrLogonGetCapabilities",
    "NetrLogonSetServiceBits",
    "NetrLogonGetTrustRid",
    "NetrLogonComputeServerDigest",
    "NetrLogonComputeClientDigest",
    "NetrServerAuthenticate3",
    "DsrGetDcNameEx",
    "DsrGetSiteName",
    "NetrLogonGetDomainInfo",
    "NetrServerPasswordSet2",
    "NetrServerPasswordGet",
    "NetrLogonSendToSam",
    "DsrAddressToSiteNamesW",
    "DsrGetDcNameEx2",
    "NetrLogonGetTimeServiceParentDomain",
    "NetrEnumerateTrustedDomainsEx",
    "DsrAddressToSiteNamesExW",
    "DsrGetDcSiteCoverageW",
    "NetrLogonSamLogonEx",
    "DsrEnumerateDomainTrusts",
    "DsrDeregisterDnsHostRecords",
    "NetrServerTrustPasswordsGet",
    "DsrGetForestTrustInformation",
    "NetrGetForestTrustInformation",
    "NetrLogonSamLogonWithFlags",
    "NetrServerGetTrustInfo",
)
# C706 appendix O (ept_*)
EPM_OPS = _names(
    "ept_insert",
    "ept_delete",
    "ept_lookup",
    "ept_map",
    "ept_lookup_handle_free",
    "ept_inq_object",
    "ept_mgmt_delete",
)
# [MS-SCMR] 3.1.4
SVCCTL_OPS = _names(
    "RCloseServiceHandle",
    "RControlService",
    "RDeleteService",
    "RLockServiceDatabase",
    "RQueryServiceObjectSecurity",
    "RSetServiceObjectSecurity",
    "RQueryServiceStatus",
    "RSetServiceStatus",
    "RUnlockServiceDatabase",
    "RNotifyBootConfigStatus",
    "Opnum10NotUsedOnWire",
    "RChangeServiceConfigW",
    "RCreateServiceW",
    "REnumDependentServicesW",
    "REnumServicesStatusW",
    "ROpenSCManagerW",
    "ROpenServiceW",
    "RQueryServiceConfigW",
    "RQueryServiceLockStatusW",
    "RStartServiceW",
    "RGetServiceDisplayNameW",
    "RGetServiceKeyNameW",
    "Opnum22NotUsedOnWire",
    "RChangeServiceConfigA",
    "RCreateServiceA",
    "REnumDependentServicesA",
    "REnumServicesStatusA",
    "ROpenSCManagerA",
    "ROpenServiceA",
    "RQueryServiceConfigA",
    "RQueryServiceLockStatusA",
    "RStartServiceA",
    "RGetServiceDisplayNameA",
    "RGetServiceKeyNameA",
    "Opnum34NotUsedOnWire",
    "REnumServiceGroupW",
    "RChangeServiceConfig2A",
    "RChangeServiceConfig2W",
    "RQueryServiceConfig2A",
    "RQueryServiceConfig2W",
    "RQueryServiceStatusEx",
    "REnumServicesStatusExA",
    "REnumServicesStatusExW",
    "Opnum43NotUsedOnWire",
    "RCreateServiceWOW64A",
    "RCreateServiceWOW64W",
)
# [MS-TSCH] 3.2.5.4
ATSVC_OPS = _names("NetrJobAdd", "NetrJobDel", "NetrJobEnum", "NetrJobGetInfo")
# [MS-RRP] 3.1.5
WINREG_OPS = _names(
    "OpenClassesRoot",
    "OpenCurrentUser",
    "OpenLocalMachine",
    "OpenPerformanceData",
    "OpenUsers",
    "BaseRegCloseKey",
    "BaseRegCreateKey",
    "BaseRegDeleteKey",
    "BaseRegDeleteValue",
    "BaseRegEnumKey",
    "BaseRegEnumValue",
    "BaseRegFlushKey",
    "BaseRegGetKeySecurity",
    "BaseRegLoadKey",
    "Opnum14NotImplemented",
    "BaseRegOpenKey",
    "BaseRegQueryInfoKey",
    "BaseRegQueryValue",
    "BaseRegReplaceKey",
    "BaseRegRestoreKey",
    "BaseRegSaveKey",
    "BaseRegSetKeySecurity",
    "BaseRegSetValue",
    "BaseRegUnLoadKey",
    "BaseInitiateSystemShutdown",
    "BaseAbortSystemShutdown",
    "BaseRegGetVersion",
    "OpenCurrentConfig",
    "Opnum28NotImplemented",
    "BaseRegQueryMultipleValues",
    "BaseInitiateSystemShutdownEx",
    "BaseRegSaveKeyEx",
    "OpenPerformanceText",
    "OpenPerformanceNlsText",
    "BaseRegQueryMultipleValues2",
    "BaseRegDeleteKeyEx",
)
# [MS-DRSR] 4.1 (IDL_DRS* methods; shown without the IDL_ prefix, as Zeek does)
DRSUAPI_OPS = _names(
    "DRSBind",
    "DRSUnbind",
    "DRSReplicaSync",
    "DRSGetNCChanges",
    "DRSUpdateRefs",
    "DRSReplicaAdd",
    "DRSReplicaDel",
    "DRSReplicaModify",
    "DRSVerifyNames",
    "DRSGetMemberships",
    "DRSInterDomainMove",
    "DRSGetNT4ChangeLog",
    "DRSCrackNames",
    "DRSWriteSPN",
    "DRSRemoveDsServer",
    "DRSRemoveDsDomain",
    "DRSDomainControllerInfo",
    "DRSAddEntry",
    "DRSExecuteKCC",
    "DRSGetReplInfo",
    "DRSAddSidHistory",
    "DRSGetMemberships2",
    "DRSReplicaVerifyObjects",
    "DRSGetObjectExistence",
    "DRSQuerySitesByCost",
)
# [MS-DSSP] 3.2.5 (DsRolerUpgradeDownlevelServer, opnum 9, is the MS04-011 LSASS target)
DSSETUP_OPS = _names(
    "DsRolerGetPrimaryDomainInformation",
    "DsRolerDnsNameToFlatName",
    "DsRolerDcAsDc",
    "DsRolerDcAsReplica",
    "DsRolerDemoteDc",
    "DsRolerGetDcOperationProgress",
    "DsRolerGetDcOperationResults",
    "DsRolerCancel",
    "DsRolerServerSaveStateForUpgrade",
    "DsRolerUpgradeDownlevelServer",
    "DsRolerAbortDownlevelServerUpgrade",
)
# [MS-OXCRPC] 3.1.4
EMSMDB_OPS = _names(
    "EcDoConnect",
    "EcDoDisconnect",
    "EcDoRpc",
    "EcGetMoreRpc",
    "EcRRegisterPushNotification",
    "EcRUnregisterPushNotification",
    "EcDummyRpc",
    "EcRGetDCName",
    "EcRNetGetDCName",
    "EcDoRpcExt",
    "EcDoConnectEx",
    "EcDoRpcExt2",
)
# [MS-NSPI] 3.1.4
NSPI_OPS = _names(
    "NspiBind",
    "NspiUnbind",
    "NspiUpdateStat",
    "NspiQueryRows",
    "NspiSeekEntries",
    "NspiGetMatches",
    "NspiResortRestriction",
    "NspiDNToMId",
    "NspiGetPropList",
    "NspiGetProps",
    "NspiCompareMIds",
    "NspiModProps",
    "NspiGetSpecialTable",
    "NspiGetTemplateInfo",
    "NspiModLinkAtt",
    "Opnum15NotUsedOnWire",
    "NspiQueryColumns",
    "NspiGetNamesFromIDs",
    "NspiGetIDsFromNames",
    "NspiResolveNames",
    "NspiResolveNamesW",
)
OPERATIONS: dict[str, dict[int, str]] = {
    "SAMR": SAMR_OPS,
    "LSARPC": LSARPC_OPS,
    "SRVSVC": SRVSVC_OPS,
    "WKSSVC": WKSSVC_OPS,
    "NETLOGON": NETLOGON_OPS,
    "EPM": EPM_OPS,
    "SVCCTL": SVCCTL_OPS,
    "ATSVC": ATSVC_OPS,
    "WINREG": WINREG_OPS,
    "DRSUAPI": DRSUAPI_OPS,
    "DSSETUP": DSSETUP_OPS,
    "EMSMDB": EMSMDB_OPS,
    "NSPI": NSPI_OPS,
    # [MS-DCOM] 3.1.2.5.2.3 (opnum 0 is the MS03-026 Blaster target), 3.1.2.5.1
    "IRemoteActivation": {0: "RemoteActivation"},
    "ISystemActivator": {3: "RemoteGetClassObject", 4: "RemoteCreateInstance"},
    "IOXIDResolver": _names(
        "ResolveOxid", "SimplePing", "ComplexPing", "ServerAlive", "ResolveOxid2", "ServerAlive2"
    ),
}


def interface_name(if_uuid: str) -> str | None:
    return INTERFACES.get(if_uuid.lower())


def operation_name(interface: str | None, opnum: int) -> str:
    """``SamrConnect5`` for a known (interface, opnum), else ``opnum N``."""
    ops = OPERATIONS.get(interface or "")
    if ops and opnum in ops:
        return ops[opnum]
    return f"opnum {opnum}"


@dataclass(slots=True)
class Syntax:
    uuid: str
    version: int  # major
    minor: int

    @property
    def name(self) -> str:
        if self.uuid.startswith("6cb71c2c-9812-4540"):
            return "Bind Time Feature Negotiation"
        return INTERFACES.get(self.uuid) or TRANSFER_SYNTAXES.get(self.uuid) or self.uuid


@dataclass(slots=True)
class Context:
    """A presentation context of a bind / alter_context."""

    context_id: int
    abstract: Syntax
    transfer: list[Syntax] = field(default_factory=list)


@dataclass(slots=True)
class AckResult:
    result: int
    reason: int
    transfer: Syntax | None


@dataclass(slots=True)
class AuthVerifier:
    auth_type: int
    auth_level: int
    pad_length: int
    context_id: int
    value: bytes
    ntlmssp: Ntlmssp | None = None


@dataclass(slots=True)
class DcerpcPdu:
    """One connection-oriented PDU. Fields not used by its type stay at their defaults."""

    version: int
    minor: int
    ptype: int
    flags: int
    drep: bytes
    frag_length: int
    auth_length: int
    call_id: int
    ref: Any = None
    offset: int = 0  # within the direction stream
    # bind / alter_context / their acks
    max_xmit: int | None = None
    max_recv: int | None = None
    assoc_group: int | None = None
    contexts: list[Context] = field(default_factory=list)
    secondary_address: str | None = None
    results: list[AckResult] = field(default_factory=list)
    reject_reason: int | None = None
    # request / response / fault
    alloc_hint: int | None = None
    context_id: int | None = None
    opnum: int | None = None
    object_uuid: str | None = None
    cancel_count: int | None = None
    status: int | None = None
    stub: bytes = b""
    auth: AuthVerifier | None = None
    # applied by decode_connection
    interface: str | None = None
    interface_uuid: str | None = None
    operation: str | None = None
    malformed: str | None = None

    @property
    def type_name(self) -> str:
        return PTYPES.get(self.ptype, f"Unknown ({self.ptype})")

    @property
    def little_endian(self) -> bool:
        return bool(self.drep and self.drep[0] & 0x10)

    @property
    def first_frag(self) -> bool:
        return bool(self.flags & PFC_FIRST_FRAG)

    @property
    def last_frag(self) -> bool:
        return bool(self.flags & PFC_LAST_FRAG)

    def tree(self) -> Node:
        n = Node(
            "Distributed Computing Environment / Remote Procedure Call (DCE/RPC) "
            f"{self.type_name}, FragLen: {self.frag_length}, Call: {self.call_id}"
            + (f", Ctx: {self.context_id}" if self.context_id is not None else "")
        )
        n.add(f"Version: {self.version}", "dcerpc.ver", self.version)
        n.add(f"Version (minor): {self.minor}", "dcerpc.ver_minor", self.minor)
        n.add(f"Packet type: {self.type_name} ({self.ptype})", "dcerpc.pkt_type", self.ptype)
        f = n.add(f"Packet Flags: 0x{self.flags:02x}", "dcerpc.cn_flags", self.flags)
        f.add(f"Last Frag: {self.last_frag}", "dcerpc.cn_flags.last_frag", self.last_frag)
        f.add(f"First Frag: {self.first_frag}", "dcerpc.cn_flags.first_frag", self.first_frag)
        d = n.add(f"Data Representation: {self.drep.hex()}", "dcerpc.drep", self.drep)
        d.add(
            "Byte order: " + ("Little-endian (1)" if self.little_endian else "Big-endian (0)"),
            "dcerpc.drep.byteorder",
            1 if self.little_endian else 0,
        )
        n.add(f"Frag Length: {self.frag_length}", "dcerpc.cn_frag_len", self.frag_length)
        n.add(f"Auth Length: {self.auth_length}", "dcerpc.cn_auth_len", self.auth_length)
        n.add(f"Call ID: {self.call_id}", "dcerpc.cn_call_id", self.call_id)
        if self.max_xmit is not None:
            n.add(f"Max Xmit Frag: {self.max_xmit}", "dcerpc.cn_max_xmit", self.max_xmit)
            n.add(f"Max Recv Frag: {self.max_recv}", "dcerpc.cn_max_recv", self.max_recv)
            n.add(
                f"Assoc Group: 0x{self.assoc_group:08x}", "dcerpc.cn_assoc_group", self.assoc_group
            )
        if self.ptype in (BIND, ALTER):
            n.add(
                f"Num Ctx Items: {len(self.contexts)}",
                "dcerpc.cn_num_ctx_items",
                len(self.contexts),
            )
            for i, c in enumerate(self.contexts, 1):
                t = ", ".join(s.name for s in c.transfer)
                ci = n.add(f"Ctx Item[{i}]: Context ID:{c.context_id}, {c.abstract.name}, {t}")
                ci.add(f"Context ID: {c.context_id}", "dcerpc.cn_ctx_id", c.context_id)
                a = ci.add(
                    f"Abstract Syntax: {c.abstract.name} V{c.abstract.version}.{c.abstract.minor}",
                    "dcerpc.cn_bind_abstract_syntax",
                )
                a.add(
                    f"Interface: {c.abstract.name} UUID: {c.abstract.uuid}",
                    "dcerpc.cn_bind_to_uuid",
                    c.abstract.uuid,
                )
                a.add(
                    f"Interface Ver: {c.abstract.version}",
                    "dcerpc.cn_bind_if_ver",
                    c.abstract.version,
                )
                a.add(
                    f"Interface Ver Minor: {c.abstract.minor}",
                    "dcerpc.cn_bind_if_ver_minor",
                    c.abstract.minor,
                )
                for s in c.transfer:
                    ci.add(
                        f"Transfer Syntax: {s.name} V{s.version}", "dcerpc.cn_bind_trans_id", s.uuid
                    )
        if self.secondary_address is not None:
            n.add(
                f"Scndry Addr: {safe(self.secondary_address)}",
                "dcerpc.cn_sec_addr",
                self.secondary_address,
            )
        if self.ptype in (BIND_ACK, ALTER_RESP):
            n.add(f"Num results: {len(self.results)}", "dcerpc.cn_num_results", len(self.results))
            for i, r in enumerate(self.results, 1):
                rn = n.add(f"Ctx Item[{i}]: {ACK_RESULTS.get(r.result, r.result)}")
                rn.add(
                    f"Ack result: {ACK_RESULTS.get(r.result, 'Unknown')} ({r.result})",
                    "dcerpc.cn_ack_result",
                    r.result,
                )
                rn.add(f"Ack reason: {r.reason}", "dcerpc.cn_ack_reason", r.reason)
                if r.transfer is not None:
                    rn.add(
                        f"Transfer Syntax: {r.transfer.name}",
                        "dcerpc.cn_ack_trans_id",
                        r.transfer.uuid,
                    )
        if self.reject_reason is not None:
            n.add(
                f"Reject reason: {self.reject_reason}",
                "dcerpc.cn_reject_reason",
                self.reject_reason,
            )
        if self.alloc_hint is not None:
            n.add(f"Alloc hint: {self.alloc_hint}", "dcerpc.cn_alloc_hint", self.alloc_hint)
        if self.context_id is not None:
            n.add(f"Context ID: {self.context_id}", "dcerpc.cn_ctx_id", self.context_id)
        if self.interface is not None:
            n.add(f"[Interface: {self.interface} ({self.interface_uuid})]")
        if self.opnum is not None:
            n.add(f"Opnum: {self.opnum}", "dcerpc.opnum", self.opnum)
        if self.operation is not None:
            n.add(f"[Operation: {safe(self.operation)}]")
        if self.status is not None:
            n.add(f"Status: {nt_status_text(self.status)}", "dcerpc.cn_status", self.status)
        if self.stub:
            n.add(f"Stub data ({len(self.stub)} bytes)", "dcerpc.stub_data", self.stub)
        if self.auth is not None:
            a = self.auth
            an = n.add(
                f"Auth Info: {AUTH_TYPES.get(a.auth_type, a.auth_type)}, level {a.auth_level}"
            )
            an.add(
                f"Auth type: {AUTH_TYPES.get(a.auth_type, 'Unknown')} ({a.auth_type})",
                "dcerpc.auth_type",
                a.auth_type,
            )
            an.add(f"Auth level: {a.auth_level}", "dcerpc.auth_level", a.auth_level)
            an.add(f"Auth pad len: {a.pad_length}", "dcerpc.auth_pad_len", a.pad_length)
            an.add(f"Auth Context ID: {a.context_id}", "dcerpc.auth_ctx_id", a.context_id)
            if a.ntlmssp is not None:
                an.children.append(a.ntlmssp.tree())
        if self.malformed:
            n.add(f"[Malformed: {self.malformed}]", "_ws.malformed", self.malformed)
        return n

    def fields(self) -> dict[str, list[Any]]:
        return self.tree().fields()


def _uuid(b: bytes, le: bool) -> str:
    return str(uuid.UUID(bytes_le=b) if le else uuid.UUID(bytes=b))


def _syntax(r: Reader, le: bool) -> Syntax:
    u = _uuid(r.bytes(16), le)
    major, minor = r.unpack("<HH" if le else ">HH")
    return Syntax(u, major, minor)


def parse_pdu(data: bytes, ref: Any = None, offset: int = 0) -> DcerpcPdu:
    """Decode one PDU from ``data`` (which may extend past it). Never raises."""
    data = bytes(data)
    if len(data) < HEADER_LEN:
        p = DcerpcPdu(0, 0, 0, 0, b"", 0, 0, 0, ref, offset)
        p.malformed = f"PDU header truncated ({len(data)} bytes)"
        return p
    ver, minor, ptype, flags = data[0], data[1], data[2], data[3]
    drep = data[4:8]
    le = bool(drep[0] & 0x10)
    e = "<" if le else ">"
    frag_len, auth_len, call_id = struct.unpack_from(e + "HHI", data, 8)
    p = DcerpcPdu(ver, minor, ptype, flags, drep, frag_len, auth_len, call_id, ref, offset)
    if ver != 5:
        p.malformed = f"not a connection-oriented DCE/RPC v5 PDU (version {ver})"
        return p
    end = min(frag_len, len(data))
    if frag_len < HEADER_LEN:
        p.malformed = f"frag length {frag_len} shorter than the header"
        return p
    if frag_len > len(data):
        p.malformed = f"PDU truncated: frag length {frag_len}, {len(data)} bytes present"
    # [MS-RPCE] 2.2.2.11: the verifier is the last auth_length bytes, after an 8-byte trailer.
    body_end = end
    if auth_len and auth_len + 8 <= end - HEADER_LEN:
        t = end - auth_len - 8
        atype, alevel, apad, _res, actx = struct.unpack_from(e + "BBBBI", data, t)
        value = data[t + 8 : end]
        p.auth = AuthVerifier(atype, alevel, apad, actx, value, find_ntlmssp(value))
        body_end = max(HEADER_LEN, t - apad)
    r = Reader(data, HEADER_LEN, body_end)
    try:
        _body(p, r, data, e, le)
    except Truncated as exc:
        p.malformed = p.malformed or f"{p.type_name} body truncated at byte {exc.offset}"
    return p


def _body(p: DcerpcPdu, r: Reader, data: bytes, e: str, le: bool) -> None:
    t = p.ptype
    if t in (BIND, ALTER):
        p.max_xmit, p.max_recv, p.assoc_group = r.unpack(e + "HHI")
        n = r.u8()
        r.skip(3)
        for _ in range(min(n, MAX_CONTEXTS)):
            cid, ntrans, _res = r.unpack(e + "HBB")
            abstract = _syntax(r, le)
            ctx = Context(cid, abstract)
            for _ in range(ntrans):
                ctx.transfer.append(_syntax(r, le))
            p.contexts.append(ctx)
    elif t in (BIND_ACK, ALTER_RESP):
        p.max_xmit, p.max_recv, p.assoc_group = r.unpack(e + "HHI")
        alen = r.unpack(e + "H")[0]
        p.secondary_address = r.bytes(alen).rstrip(b"\0").decode("latin-1")
        pad = (4 - r.pos % 4) % 4  # align to 4 from the PDU start
        r.skip(min(pad, r.remaining))
        n = r.u8()
        r.skip(3)
        for _ in range(min(n, MAX_CONTEXTS)):
            res, reason = r.unpack(e + "HH")
            p.results.append(AckResult(res, reason, _syntax(r, le)))
    elif t == BIND_NAK:
        p.reject_reason = r.unpack(e + "H")[0]
    elif t == REQUEST:
        p.alloc_hint, p.context_id, p.opnum = r.unpack(e + "IHH")
        if p.flags & PFC_OBJECT_UUID:
            p.object_uuid = _uuid(r.bytes(16), le)
        p.stub = r.rest()
    elif t == RESPONSE:
        p.alloc_hint, p.context_id, p.cancel_count = r.unpack(e + "IHB")
        r.skip(1)
        p.stub = r.rest()
    elif t == FAULT:
        p.alloc_hint, p.context_id, p.cancel_count = r.unpack(e + "IHB")
        r.skip(1)
        p.status = r.unpack(e + "I")[0]


def parse_pdus(data: bytes, ref: Any = None, *, base: int = 0) -> list[DcerpcPdu]:
    """Split a direction stream into PDUs by frag length; stops at the first unusable header."""
    out: list[DcerpcPdu] = []
    pos = 0
    while pos < len(data) and len(out) < MAX_PDUS:
        p = parse_pdu(data[pos:], ref, base + pos)
        out.append(p)
        if p.malformed and (p.frag_length < HEADER_LEN or p.version != 5 or pos + 16 > len(data)):
            break
        pos += max(p.frag_length, HEADER_LEN)  # frag_length >= 16 here: always advances
    return out


def _chunks_to_pdus(chunks: Iterable[Any]) -> list[DcerpcPdu]:
    """PDUs from ``bytes`` or ``(bytes, ref)`` chunks; each PDU gets the ref of its last byte."""
    buf = bytearray()
    ends: list[tuple[int, Any]] = []
    for ch in chunks:
        if isinstance(ch, (bytes, bytearray, memoryview)):
            data, ref = bytes(ch), None
        else:
            data, ref = bytes(ch[0]), ch[1]
        buf += data
        ends.append((len(buf), ref))
    pdus = parse_pdus(bytes(buf))
    i = 0
    for p in pdus:
        last = p.offset + max(min(p.frag_length, len(buf) - p.offset), 1) - 1
        while i < len(ends) - 1 and ends[i][0] <= last:
            i += 1
        if ends:
            p.ref = ends[i][1]
    return pdus


@dataclass(slots=True)
class DcerpcCall:
    """A request (reassembled over its fragments) with its response or fault."""

    call_id: int
    context_id: int | None
    opnum: int | None
    interface: str | None
    interface_uuid: str | None
    operation: str | None
    request: list[DcerpcPdu] = field(default_factory=list)
    response: list[DcerpcPdu] = field(default_factory=list)
    fault_status: int | None = None
    malformed: str | None = None
    stub_bytes: int = 0  # running total, bounds reassembly

    @property
    def request_stub(self) -> bytes:
        return b"".join(p.stub for p in self.request)

    @property
    def response_stub(self) -> bytes:
        return b"".join(p.stub for p in self.response if p.ptype == RESPONSE)

    @property
    def request_ref(self) -> Any:
        return self.request[-1].ref if self.request else None

    @property
    def response_ref(self) -> Any:
        return self.response[-1].ref if self.response else None

    def tree(self) -> Node:
        n = Node(f"DCE/RPC call {self.call_id}: {self.interface or '?'} {self.operation or ''}")
        n.add(f"Call ID: {self.call_id}", "dcerpc.cn_call_id", self.call_id)
        if self.context_id is not None:
            n.add(f"Context ID: {self.context_id}", "dcerpc.cn_ctx_id", self.context_id)
        if self.interface_uuid:
            n.add(f"Interface: {self.interface or '?'} UUID: {self.interface_uuid}")
        if self.opnum is not None:
            n.add(f"Opnum: {self.opnum}", "dcerpc.opnum", self.opnum)
            n.add(f"Operation: {safe(self.operation or '')}")
        n.add(f"Request stub: {len(self.request_stub)} bytes in {len(self.request)} fragment(s)")
        n.add(f"Response stub: {len(self.response_stub)} bytes in {len(self.response)} fragment(s)")
        if self.fault_status is not None:
            n.add(
                f"Fault: {nt_status_text(self.fault_status)}", "dcerpc.cn_status", self.fault_status
            )
        if self.malformed:
            n.add(f"[Malformed: {self.malformed}]", "_ws.malformed", self.malformed)
        return n

    def fields(self) -> dict[str, list[Any]]:
        return self.tree().fields()


@dataclass(slots=True)
class DcerpcConnection:
    """Both directions of one association: all PDUs (annotated) and the reassembled calls."""

    client_pdus: list[DcerpcPdu]
    server_pdus: list[DcerpcPdu]
    calls: list[DcerpcCall]
    contexts: dict[int, Syntax]

    @property
    def pdus(self) -> list[DcerpcPdu]:
        return self.client_pdus + self.server_pdus


def decode_connection(client: Any, server: Any) -> DcerpcConnection:
    """Decode both directions (``bytes`` or lists of ``bytes`` / ``(bytes, ref)`` chunks).

    Context ids are mapped to interfaces from the client's bind / alter_context PDUs in order
    (a rejected context is dropped when the server's ack says so). Requests and responses are
    reassembled per call id from FIRST to LAST fragment (bounded in fragments and bytes) and
    paired by call id.
    """
    cp = _chunks_to_pdus([client] if isinstance(client, (bytes, bytearray)) else client)
    sp = _chunks_to_pdus([server] if isinstance(server, (bytes, bytearray)) else server)
    # acks by call id: which proposed contexts were accepted
    acks: dict[int, DcerpcPdu] = {
        p.call_id: p for p in sp if p.ptype in (BIND_ACK, ALTER_RESP) and not p.malformed
    }
    ctx: dict[int, Syntax] = {}
    calls: dict[int, DcerpcCall] = {}
    order: list[DcerpcCall] = []
    for p in cp:
        if p.ptype in (BIND, ALTER):
            ack = acks.get(p.call_id)
            for i, c in enumerate(p.contexts):
                rejected = ack is not None and i < len(ack.results) and ack.results[i].result != 0
                if not rejected:
                    ctx[c.context_id] = c.abstract
        elif p.ptype == REQUEST:
            syn = ctx.get(p.context_id or 0)
            if syn is not None:
                p.interface_uuid = syn.uuid
                p.interface = INTERFACES.get(syn.uuid)
            p.operation = operation_name(p.interface, p.opnum or 0)
            call = calls.get(p.call_id)
            if call is None or (p.first_frag and call.request and call.request[-1].last_frag):
                call = DcerpcCall(
                    p.call_id, p.context_id, p.opnum, p.interface, p.interface_uuid, p.operation
                )
                calls[p.call_id] = call
                order.append(call)
            _append(call, p, request=True)
    for p in sp:
        if p.ptype in (RESPONSE, FAULT):
            call = calls.get(p.call_id)
            if call is None:
                call = DcerpcCall(p.call_id, p.context_id, None, None, None, None)
                calls[p.call_id] = call
                order.append(call)
            p.interface, p.interface_uuid = call.interface, call.interface_uuid
            if call.interface_uuid is not None:  # as tshark: only when the bind was seen
                p.opnum, p.operation = call.opnum, call.operation
            if p.ptype == FAULT:
                call.fault_status = p.status
                call.response.append(p)
            else:
                _append(call, p, request=False)
    return DcerpcConnection(cp, sp, order, ctx)


def _append(call: DcerpcCall, p: DcerpcPdu, *, request: bool) -> None:
    frags = call.request if request else call.response
    if len(frags) >= MAX_FRAGMENTS:
        call.malformed = f"more than {MAX_FRAGMENTS} fragments"
        return
    if call.stub_bytes + len(p.stub) > MAX_STUB:
        call.malformed = f"reassembled stub larger than {MAX_STUB} bytes"
        return
    frags.append(p)
    call.stub_bytes += len(p.stub)
