// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {Governed} from "./AvantisTypes.sol";
import {SimUSDC} from "./SimUSDC.sol";

/// @title SimVaultManager
/// @notice The liquidity pool on the other side of every trade: losses and liquidated collateral
/// are sent here, profits are paid from here.
/// @dev Simplified: one pool, no junior/senior tranches, no LP shares, no reward split of fees.
contract SimVaultManager is Governed {
    SimUSDC public immutable usdc;
    address public callbacks;

    constructor(SimUSDC _usdc) {
        usdc = _usdc;
    }

    function setCallbacks(address a) external onlyGov {
        callbacks = a;
    }

    function currentBalanceUSDC() external view returns (uint256) {
        return usdc.balanceOf(address(this));
    }

    /// @notice Pays a trader's profit. Reverts when the pool cannot cover it.
    function sendUSDCToTrader(address _trader, uint256 _amount) external {
        require(msg.sender == callbacks, "ONLY_CALLBACKS");
        require(usdc.balanceOf(address(this)) >= _amount, "VAULT_INSOLVENT");
        require(usdc.transfer(_trader, _amount), "USDC_TRANSFER");
    }
}
