// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {OpenKind} from "./AvantisTypes.sol";
import {TradingStorage} from "./TradingStorage.sol";
import {PairStorage} from "./PairStorage.sol";
import {PairInfos} from "./PairInfos.sol";
import {PriceAggregator} from "./PriceAggregator.sol";
import {TradingCallbacks} from "./TradingCallbacks.sol";
import {TradingBase} from "./TradingBase.sol";

/// @title TradingV2 (simulator): the v2 entry points of the TradingRouter
/// @notice Runs only by delegatecall from `Trading`'s fallback, on Trading's storage, at
/// Trading's address (the EIP-712 `verifyingContract`). Modelled from AVANTIS-V2.md: the
/// `AvantisTrading`/`1` domain (§8.1), the exact intent types (§8.2) and their abi encoding
/// (§8.4), both ToS texts (§8.5), 65-byte r‖s‖v signatures (§8.6), the unordered nonce bitmap
/// per signing address (§8.3), several expiring delegates per trader (§4), `setDelegateWithSig`
/// (§9.5) and the 13-field `MarketOrderInitiated` (§13). ASSUMED (unpublished on mainnet): the
/// operator entry points `executeOpenTradeIntent` / `executeCloseTradeIntent`, the delegate
/// events, and every custom error not named in §13. See docs/adr/0017-v2-simulator.md.
contract TradingV2 is TradingBase {
    // ---- EIP-712 (§8.1, §8.2) ----------------------------------------------------------------

    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant NAME_HASH = keccak256("AvantisTrading");
    bytes32 private constant VERSION_HASH = keccak256("1");

    bytes32 private constant TRADE_TYPEHASH = keccak256(
        "Trade(address trader,uint256 pairIndex,uint256 index,uint256 initialPosToken,uint256 positionSizeUSDC,uint256 openPrice,bool buy,uint256 leverage,uint256 tp,uint256 sl,uint256 timestamp)"
    );
    bytes32 public constant OPEN_TRADE_REQ_TYPEHASH = keccak256(
        "OpenTradeReq(Trade _t,uint8 _type,uint256 _slippageP,uint256 _deadline,uint256 _nonce)Trade(address trader,uint256 pairIndex,uint256 index,uint256 initialPosToken,uint256 positionSizeUSDC,uint256 openPrice,bool buy,uint256 leverage,uint256 tp,uint256 sl,uint256 timestamp)"
    );
    bytes32 public constant CLOSE_TRADE_REQ_TYPEHASH = keccak256(
        "CloseTradeReq(address _trader,uint256 _pairIndex,uint256 _index,uint256 _openTimestamp,uint256 _amount,uint256 _wantedPrice,uint256 _deadline,uint256 _nonce)"
    );
    bytes32 public constant DELEGATE_REQ_TYPEHASH =
        keccak256("DelegateReq(address trader,address delegate,uint256 expiry,uint256 deadline,string tnc,uint256 nonce)");

    /// §8.5, byte for byte (no space after `tos.` in the Avantis text, one in the Veranta text).
    bytes32 private constant TOS_AVANTIS_HASH = keccak256(
        "I accept the Avantis Terms of Service: https://www.avantisfi.com/docs/tos.I confirm that I am not a resident of any of the following countries/regions: Belarus, Cuba, Iran, North Korea, Russia, Syria, Crimea, United Kingdom, United States of America."
    );
    bytes32 private constant TOS_VERANTA_HASH = keccak256(
        "I accept the Veranta Terms of Service: https://www.veranta.xyz/docs/tos. I confirm that I am not a resident of any of the following countries/regions: Belarus, Cuba, Iran, North Korea, Russia, Syria, Crimea, United Kingdom, United States of America."
    );

    /// secp256k1n / 2: a larger `s` is the malleable twin of a valid signature.
    uint256 private constant HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    // ---- intents, in Solidity field order (§8.4) ----------------------------------------------

    struct OpenTradeReq {
        Trade _t;
        uint8 _type;
        uint256 _slippageP;
        uint256 _deadline; // unix ms
        uint256 _nonce;
    }

    struct CloseTradeReq {
        address _trader;
        uint256 _pairIndex;
        uint256 _index;
        uint256 _openTimestamp; // the position's current on-chain timestamp (s)
        uint256 _amount; // collateral to close, USDC 1e6
        uint256 _wantedPrice;
        uint256 _deadline; // unix ms
        uint256 _nonce;
    }

    /// Solidity order differs from the typed order: `tnc` before `deadline` (§8.4).
    struct DelegateReq {
        address trader;
        address delegate;
        uint256 expiry; // unix s
        string tnc;
        uint256 deadline; // unix ms
        uint256 nonce;
    }

    // ---- events and errors (§13; ASSUMED where marked) ---------------------------------------

    /// v2 topic0 0xdf4eefe4…90a3 (§13). Fields 9–13 are named as §13 guesses them (ASSUMED);
    /// the simulator fills minLeverage = maxLeverage = leverage, coinExposure 0, not fixed.
    event MarketOrderInitiated(
        address indexed trader,
        uint256 pairIndex,
        bool open,
        uint256 orderId,
        uint256 timestamp,
        bool isBuy,
        bool isPnl,
        uint256 initialPosToken,
        uint256 minLeverage,
        uint256 maxLeverage,
        uint256 coinExposure,
        bool isCoinExposureFixed,
        uint256 wantedPrice
    );
    /// ASSUMED (mainnet's delegate events are unpublished).
    event DelegateSet(address indexed trader, address indexed delegate, uint256 expiry);
    /// ASSUMED.
    event DelegateRemoved(address indexed trader, address indexed delegate);

    error InvalidNonce(); // §13
    error InvalidDeadline(); // §13
    error PositionMismatch(); // §13
    error InvalidSignature(); // ASSUMED: not 65 bytes, v not 27/28, high s, or no signer recovered
    error InvalidSigner(); // ASSUMED: the signer is neither the trader nor its enabled, unexpired delegate
    error InvalidTnc(); // ASSUMED: DelegateReq.tnc is not one of the two ToS texts
    error InvalidDelegate(); // ASSUMED: zero address, or the trader itself
    error InvalidExpiry(); // ASSUMED: expiry not in the future
    error OrderTypeNotSimulated(); // simulator only: intents carry market opens (`_type` 0) only
    error OnlyViaRouter(); // simulator only: the facet was called directly, not through Trading

    address private immutable self;

    constructor(
        TradingStorage _storageT,
        PairStorage _pairsStorage,
        PairInfos _pairInfos,
        PriceAggregator _aggregator,
        TradingCallbacks _callbacks
    ) TradingBase(_storageT, _pairsStorage, _pairInfos, _aggregator, _callbacks) {
        self = address(this);
    }

    /// Only through Trading's fallback, and never inside a v1 `delegatedAction` (so a delegate
    /// can never reach these entry points on the trader's behalf).
    modifier viaRouter() {
        if (address(this) == self) revert OnlyViaRouter();
        require(delegatedTrader == address(0), "NOT_ALLOWED_IN_DELEGATION");
        _;
    }

    // ---- reads -------------------------------------------------------------------------------

    /// @notice EIP-712 domain `AvantisTrading` / `1` / chainid / the TradingRouter (Trading).
    function DOMAIN_SEPARATOR() public view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
    }

    /// @notice Word `wordPos` of `signer`'s used-nonce bitmap: bit `n & 255` of word `n >> 8` is nonce `n`.
    function nonceBitmap(address signer, uint256 wordPos) external view returns (uint256) {
        return _nonceBitmap[signer][wordPos];
    }

    function multipleDelegations(address trader, address delegate) external view returns (bool isEnabled, uint256 expiry) {
        Delegation storage d = _delegates[trader][delegate];
        return (d.isEnabled, d.expiry);
    }

    // ---- delegates (§4): only ever the caller's own ------------------------------------------

    /// @notice Adds or renews `delegate` for msg.sender until `expiry` (unix seconds).
    function setDelegate(address delegate, uint256 expiry) external viaRouter {
        _setDelegate(msg.sender, delegate, expiry);
    }

    /// @notice Disables msg.sender's `delegate`; its pending intents stop executing. Idempotent.
    function removeDelegate(address delegate) external viaRouter {
        delete _delegates[msg.sender][delegate];
        emit DelegateRemoved(msg.sender, delegate);
    }

    /// @notice Registers a delegate from the trader's signed DelegateReq; anyone may submit it
    /// (§9.5, selector 0xf4ec01eb). The signer must be the trader itself.
    function setDelegateWithSig(bytes calldata signature, bytes calldata encodedIntent) external viaRouter {
        DelegateReq memory r = abi.decode(encodedIntent, (DelegateReq));
        _checkDeadline(r.deadline);
        bytes32 structHash = keccak256(
            abi.encode(DELEGATE_REQ_TYPEHASH, r.trader, r.delegate, r.expiry, r.deadline, keccak256(bytes(r.tnc)), r.nonce)
        );
        address signer = _recover(structHash, signature);
        if (signer != r.trader) revert InvalidSigner();
        bytes32 tnc = keccak256(bytes(r.tnc));
        if (tnc != TOS_AVANTIS_HASH && tnc != TOS_VERANTA_HASH) revert InvalidTnc();
        _useNonce(signer, r.nonce);
        _setDelegate(r.trader, r.delegate, r.expiry);
    }

    function _setDelegate(address trader, address delegate, uint256 expiry) private {
        if (delegate == address(0) || delegate == trader) revert InvalidDelegate();
        if (expiry <= block.timestamp) revert InvalidExpiry();
        _delegates[trader][delegate] = Delegation(true, expiry);
        emit DelegateSet(trader, delegate, expiry);
    }

    // ---- operator entry points (ASSUMED names; mainnet's are unpublished) --------------------

    /// @notice Executes a signed OpenTradeReq (market only) for `_t.trader`: anyone (the operator
    /// service, which pays no execution fee here) submits it; the signer must be the trader or its enabled, unexpired delegate.
    /// Collateral comes from the trader; the keeper fills it like any v1 market open.
    function executeOpenTradeIntent(bytes calldata encodedIntent, bytes calldata signature)
        external
        viaRouter
        notPaused
        returns (uint256 orderId)
    {
        OpenTradeReq memory r = abi.decode(encodedIntent, (OpenTradeReq));
        _checkDeadline(r._deadline);
        bytes32 structHash = keccak256(abi.encode(OPEN_TRADE_REQ_TYPEHASH, _hashTrade(r._t), r._type, r._slippageP, r._deadline, r._nonce));
        address trader = r._t.trader;
        _authorise(trader, structHash, signature, r._nonce);
        if (r._type != OpenKind.MARKET) revert OrderTypeNotSimulated();

        orderId = _openMarket(trader, r._t, r._slippageP);
        emit MarketOrderInitiated(
            trader, r._t.pairIndex, true, orderId, block.timestamp, r._t.buy, false, r._t.positionSizeUSDC,
            r._t.leverage, r._t.leverage, 0, false, r._t.openPrice
        );
    }

    /// @notice Executes a signed CloseTradeReq: `_openTimestamp` must be the position's current
    /// on-chain timestamp, else `PositionMismatch()`. The fill pays the trader, never the signer.
    function executeCloseTradeIntent(bytes calldata encodedIntent, bytes calldata signature)
        external
        viaRouter
        notPaused
        returns (uint256 orderId)
    {
        CloseTradeReq memory r = abi.decode(encodedIntent, (CloseTradeReq));
        _checkDeadline(r._deadline);
        bytes32 structHash = keccak256(
            abi.encode(
                CLOSE_TRADE_REQ_TYPEHASH, r._trader, r._pairIndex, r._index, r._openTimestamp, r._amount, r._wantedPrice, r._deadline, r._nonce
            )
        );
        _authorise(r._trader, structHash, signature, r._nonce);
        _checkPosition(r._trader, r._pairIndex, r._index, r._openTimestamp);

        Trade memory t;
        (orderId, t) = _closeMarket(r._trader, r._pairIndex, r._index, r._amount);
        emit MarketOrderInitiated(
            r._trader, r._pairIndex, false, orderId, block.timestamp, t.buy, false, r._amount, t.leverage, t.leverage, 0, false, r._wantedPrice
        );
    }

    // ---- checks ------------------------------------------------------------------------------

    /// The position must exist and `openTimestamp` be its current on-chain timestamp. The
    /// simulator keeps v1's quirk: the stored `positionSizeUSDC` is the time of its last change
    /// (open, margin update, partial close), which is what §8.3 says the check compares.
    function _checkPosition(address trader, uint256 pairIndex, uint256 index, uint256 openTimestamp) private view {
        Trade memory live = storageT.openTrades(trader, pairIndex, index);
        require(live.leverage > 0, "NO_TRADE");
        if (live.positionSizeUSDC != openTimestamp) revert PositionMismatch();
    }

    /// Deadlines are unix milliseconds; the contract compares seconds (§3).
    function _checkDeadline(uint256 deadlineMs) private view {
        if (deadlineMs / 1000 < block.timestamp) revert InvalidDeadline();
    }

    /// The signer of `structHash` must be `trader` or its enabled, unexpired delegate; the nonce
    /// is then spent from the SIGNER's bitmap.
    function _authorise(address trader, bytes32 structHash, bytes calldata signature, uint256 nonce) private {
        address signer = _recover(structHash, signature);
        if (signer != trader && !_isActiveDelegate(trader, signer)) revert InvalidSigner();
        _useNonce(signer, nonce);
    }

    function _useNonce(address signer, uint256 nonce) private {
        uint256 bit = 1 << (nonce & 0xff);
        uint256 word = _nonceBitmap[signer][nonce >> 8];
        if (word & bit != 0) revert InvalidNonce();
        _nonceBitmap[signer][nonce >> 8] = word | bit;
    }

    function _recover(bytes32 structHash, bytes calldata signature) private view returns (address signer) {
        if (signature.length != 65) revert InvalidSignature();
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (v < 27) v += 27;
        if ((v != 27 && v != 28) || uint256(s) > HALF_N) revert InvalidSignature();
        bytes32 digest = keccak256(abi.encodePacked(hex"1901", DOMAIN_SEPARATOR(), structHash));
        signer = ecrecover(digest, v, r, s);
        if (signer == address(0)) revert InvalidSignature();
    }

    function _hashTrade(Trade memory t) private pure returns (bytes32) {
        return keccak256(
            abi.encode(
                TRADE_TYPEHASH, t.trader, t.pairIndex, t.index, t.initialPosToken, t.positionSizeUSDC, t.openPrice, t.buy, t.leverage, t.tp, t.sl, t.timestamp
            )
        );
    }
}
